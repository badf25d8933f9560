#!/usr/bin/env python3
"""Writes the seed corpora of the zeo/fuzz targets from recorded ZEO traffic.

    zeo/fuzz/make_corpus.py OUT_DIR [TESTDATA_DIR]

TESTDATA_DIR (default: zeo/testdata next to this script) holds *.jsonl
captures, one frame a line: `frame_hex` is the whole frame (4-byte big-endian
length, then the payload); message frames (kind "message") name their
`encoding`, "pickle" or "msgpack". Writes, one file per frame:

    OUT_DIR/pickle/<capture>-<seq>    payload of every pickle message frame
    OUT_DIR/msgpack/<capture>-<seq>   payload of every msgpack message frame
    OUT_DIR/message/<encoding>-<capture>-<seq>
                                      both of the above (message_fuzzer)
    OUT_DIR/frame_reader/<capture>-conn<N>
                                      the whole frames of one connection and
                                      direction, concatenated in order
    OUT_DIR/frame_reader/<capture>-<seq>
                                      every frame alone, handshakes included

and prints how many files went where. Existing files are overwritten.
"""
import collections
import json
import os
import sys


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    out = argv[1]
    testdata = argv[2] if len(argv) == 3 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "testdata")
    captures = sorted(f for f in os.listdir(testdata) if f.endswith(".jsonl"))
    if not captures:
        sys.exit(f"make_corpus: no *.jsonl in {testdata}")

    counts = collections.Counter()

    def write(kind, name, data):
        directory = os.path.join(out, kind)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        counts[kind] += 1

    for capture in captures:
        stem = capture[:-len(".jsonl")]  # e.g. basic.c2s
        streams = collections.defaultdict(list)  # conn -> [(seq, frame)]
        with open(os.path.join(testdata, capture)) as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                frame = bytes.fromhex(record["frame_hex"])
                seq = record["seq"]
                streams[record.get("conn", 0)].append((seq, frame))
                write("frame_reader", f"{stem}-{seq:05d}", frame)
                if record.get("kind") != "message":
                    continue
                encoding = record.get("encoding")
                if encoding not in ("pickle", "msgpack"):
                    sys.exit(f"make_corpus: {capture} seq {seq}: "
                             f"unknown encoding {encoding!r}")
                payload = frame[4:]
                write(encoding, f"{stem}-{seq:05d}", payload)
                write("message", f"{encoding}-{stem}-{seq:05d}", payload)
        for conn, frames in sorted(streams.items()):
            frames.sort()
            write("frame_reader", f"{stem}-conn{conn}",
                  b"".join(frame for _, frame in frames))

    for kind in sorted(counts):
        print(f"make_corpus: {counts[kind]:4d} files in "
              f"{os.path.join(out, kind)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
