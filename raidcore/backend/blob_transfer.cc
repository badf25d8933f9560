#include "raidcore/backend/blob_transfer.h"

#include <string>

namespace zeoraid::raidcore {

using zeo::Value;

absl::Status SendBlobStore(BackendConnection& c, const Value& oid,
                           const Value& serial, const Value& data,
                           const SpoolFile* blob, int64_t txn_id) {
  absl::Status st = c.Send("storeBlobStart", {});
  if (!st.ok()) return st;
  if (blob != nullptr) {
    st = blob->ForEachChunk(kBlobChunkBytes, [&](absl::string_view chunk) {
      Value::Items args;  // built in place: an initializer list would copy
      args.push_back(Value::Bytes(std::string(chunk)));
      return c.Send("storeBlobChunk", std::move(args));
    });
    if (!st.ok()) return st;
  }
  return c.Send("storeBlobEnd", {oid, serial, data, Value::Int(txn_id)});
}

}  // namespace zeoraid::raidcore
