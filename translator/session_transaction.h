// ClientSession::Transaction: the state of one client transaction between
// tpc_begin and tpc_finish/tpc_abort, shared by the session's files
// (client_session.cc, client_session_commit.cc). Touched only by the
// connection's own thread, except that a finished one is closed on the pool.
#ifndef ZEORAID_TRANSLATOR_SESSION_TRANSACTION_H_
#define ZEORAID_TRANSLATOR_SESSION_TRANSACTION_H_

#include <cstddef>
#include <set>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "translator/client_session.h"
#include "translator/commit_stream.h"
#include "zeo/value.h"

namespace zeoraid::translator {

struct ClientSession::Transaction {
  Transaction(zeo::Value id, v1::Storage::Stub* stub, CommitStreamPool* pool)
      : txn_id(std::move(id)), stream(stub, pool) {}

  zeo::Value txn_id;
  CommitStream stream;
  // What the client stored (oid, data), for the record cache once the
  // backends committed it; oids whose committed data is not simply this
  // (restored, deleted, or changed by the backends at vote) are left out.
  // Given up past kMaxWriteThroughBytes. (Hashed: a big commit makes a
  // thousand entries, and a tree of them cost 2-5 % of the translator's CPU.)
  absl::flat_hash_map<std::string, std::string> stored;
  std::set<std::string> not_verbatim;
  size_t stored_bytes = 0;
  bool write_through = true;
  // Between storeBlobStart and storeBlobEnd.
  bool blob_open = false;
  // Why vote must fail, as ZEO would answer it (class path, message): a
  // storeBlobShared, or a record that is not bytes; empty: it may vote.
  std::string refused_class;
  std::string refused;

  // The first reason wins, as the first failing call would at ZEO's vote.
  void Refuse(std::string class_path, std::string message) {
    if (!refused.empty()) return;
    refused_class = std::move(class_path);
    refused = std::move(message);
  }
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_SESSION_TRANSACTION_H_
