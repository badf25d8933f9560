// Bounds applied while decoding untrusted input. A frame that exceeds any of
// them is rejected with an error status; nothing is allocated beyond them.
#ifndef ZEORAID_ZEO_LIMITS_H_
#define ZEORAID_ZEO_LIMITS_H_

#include <cstddef>

namespace zeo {

struct DecodeLimits {
  // Whole frame payload. ZEO sends object records whole, so this bounds record
  // size.
  size_t max_frame_bytes = 64u << 20;
  // Nesting of tuples/lists/dicts/objects.
  size_t max_depth = 64;
  // Elements of one tuple/list or items of one dict.
  size_t max_container_length = 1u << 20;
  // One bytes/str value.
  size_t max_string_bytes = 64u << 20;
  // Values (nodes) created while decoding one frame, memo copies included
  // (pickle BINGET can share a subtree many times; Value is a tree, so sharing
  // is copied). Bounds memory at roughly 200 bytes per value; decoders also cap
  // the total bytes of all strings at max_frame_bytes for the same reason.
  size_t max_values = 1u << 22;
};

}  // namespace zeo

#endif  // ZEORAID_ZEO_LIMITS_H_
