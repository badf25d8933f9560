// Storing a blob on a backend as a ZEO client does (ClientStorage.storeBlob):
// storeBlobStart, the bytes in storeBlobChunk calls, then storeBlobEnd with
// the record. All one-way: the server spools the chunks and stores the blob
// at vote. Used by the commit coordinator (every mirror) and by recovery
// (ZEO has no restoreBlob: a copied blob record is stored this way).
#ifndef ZEORAID_RAIDCORE_BACKEND_BLOB_TRANSFER_H_
#define ZEORAID_RAIDCORE_BACKEND_BLOB_TRANSFER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "base/spool_file.h"
#include "raidcore/backend/backend_connection.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// Blob bytes per storeBlobChunk call to a backend, and per LoadBlobResponse
// (which the translator passes on as one receiveBlobChunk): as ZEO's own
// 59000, about. Small
// enough for every copy on the way to reuse heap memory; 1 MiB pieces were
// fresh mmaps, and page faults took a quarter of raidcore's time.
inline constexpr size_t kBlobChunkBytes = 64 << 10;

// `serial` is the revision the client read (None or z64 for a new object);
// `blob` may be null for an empty blob.
absl::Status SendBlobStore(BackendConnection& c, const zeo::Value& oid,
                           const zeo::Value& serial, const zeo::Value& data,
                           const SpoolFile* blob, int64_t txn_id);

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_BLOB_TRANSFER_H_
