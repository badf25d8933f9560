// ZEO's server method set (zeo-protocol.md section 6), shared by the session
// (a name outside it closes the connection, as ZEO does: "Invalid method") and
// the metrics (one label value per method, so the label set stays bounded).
#ifndef ZEORAID_TRANSLATOR_ZEO_METHODS_H_
#define ZEORAID_TRANSLATOR_ZEO_METHODS_H_

#include <string>

namespace zeoraid::translator {

// Every method a ZEO 5 client may call after register.
inline constexpr const char* kZeoServerMethods[] = {
    "get_info",
    "lastTransaction",
    "getInvalidations",
    "new_oids",
    "pack",
    "loadBefore",
    "storea",
    "checkCurrentSerialInTransaction",
    "restorea",
    "storeBlobStart",
    "storeBlobChunk",
    "storeBlobEnd",
    "storeBlobShared",
    "deleteObject",
    "tpc_begin",
    "vote",
    "tpc_finish",
    "tpc_abort",
    "history",
    "record_iternext",
    "sendBlob",
    "getTid",
    "loadSerial",
    "new_oid",
    "undoa",
    "undoLog",
    "undoInfo",
    "iterator_start",
    "iterator_next",
    "iterator_record_start",
    "iterator_record_next",
    "iterator_gc",
    "server_status",
    "set_client_label",
    "ping"};

inline bool IsZeoMethod(const std::string& name) {
  for (const char* m : kZeoServerMethods) {
    if (name == m) return true;
  }
  return false;
}

// The blob stores: storeBlobStart, storeBlobChunk, storeBlobEnd,
// storeBlobShared.
inline bool IsBlobStoreCall(const std::string& name) {
  return name.rfind("storeBlob", 0) == 0;
}

// The other methods ZEO clients call one-way (without waiting for an
// answer): tpc_begin, the transaction's data calls and iterator_gc. A ZEO
// server also answers them when they are called synchronously.
inline bool IsOneWayCall(const std::string& name) {
  return name == "tpc_begin" || name == "storea" ||
         name == "checkCurrentSerialInTransaction" || name == "undoa" ||
         name == "restorea" || name == "deleteObject" || name == "iterator_gc";
}

// Every method ZEO clients call one-way.
inline bool IsOneWayMethod(const std::string& name) {
  return IsOneWayCall(name) || IsBlobStoreCall(name);
}

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_ZEO_METHODS_H_
