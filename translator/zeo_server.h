// ZeoServer: accepts ZEO client connections (TCP or Unix socket) and serves
// each on its own thread with a ClientSession.
#ifndef ZEORAID_TRANSLATOR_ZEO_SERVER_H_
#define ZEORAID_TRANSLATOR_ZEO_SERVER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "base/mutex.h"
#include "net/byte_budget.h"
#include "net/socket.h"
#include "net/write_queue.h"
#include "translator/client_session.h"
#include "translator/invalidation_fanout.h"

namespace zeoraid::translator {

struct ServerLimits {
  // Concurrent client connections; beyond it a new connection is closed at
  // once (and counted). 0: no cap.
  int max_connections = 1024;
  // Bytes of partly received (and not yet handled) frames beyond each
  // frame's free allowance, for all connections together.
  size_t frame_budget_bytes = 256u << 20;
};

class ZeoServer {
 public:
  // Sets the options' flusher and frame budget to the server's own.
  ZeoServer(v1::Storage::Stub* stub, InvalidationFanout* fanout,
            SessionOptions options, ServerLimits limits = {});

  absl::Status Listen(const std::string& address);
  // Accepts until Stop() is called.
  void Run();
  void Stop() { stopping_ = true; }
  // Disconnects every client and waits up to `timeout` for their threads to
  // end (each aborts its transaction, if any). True when all ended.
  bool DrainSessions(absl::Duration timeout);

 private:
  void SessionEnded(uint64_t id);
  // Closes a connection beyond the cap; logs at most every 10 s.
  void Refuse(net::Socket socket);

  v1::Storage::Stub* const stub_;
  InvalidationFanout* const fanout_;
  const ServerLimits limits_;
  // Before options_, which points at them; outlive every session.
  net::OutputFlusher flusher_;
  net::ByteBudget frame_budget_;
  SessionOptions options_;
  // Refused connections not yet logged, and when the last log line was.
  uint64_t refused_unlogged_ = 0;
  absl::Time refused_logged_ = absl::InfinitePast();
  net::Socket listener_;
  std::atomic<bool> stopping_{false};
  uint64_t next_id_ = 1;  // only the Run thread touches it

  Mutex mu_;
  CondVar ended_cv_;
  // Sessions whose thread is running.
  std::map<uint64_t, std::weak_ptr<ClientSession>> sessions_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_ZEO_SERVER_H_
