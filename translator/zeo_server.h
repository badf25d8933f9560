// ZeoServer: accepts ZEO client connections (TCP or Unix socket) and serves
// each with a ClientSession, on a thread of its own while it works; an idle
// connection is parked on one shared thread (net::IdleParker) and gets a
// thread again when it sends a call.
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
#include "net/idle_parker.h"
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
  // A registered client idle this long between calls has its connection
  // watched by one shared thread instead of a thread of its own (ZEO clients
  // idle for hours; a thread is most of what an idle connection costs).
  // Zero: every connection keeps its thread.
  absl::Duration park_idle_after = absl::Seconds(2);
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
  // Runs `session` on a new thread until it ends, or parks it.
  void ServeOnNewThread(std::shared_ptr<ClientSession> session, uint64_t id);
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
  // Sessions not ended yet (served or parked).
  std::map<uint64_t, std::weak_ptr<ClientSession>> sessions_
      ABSL_GUARDED_BY(mu_);
  // Last member, destroyed first: its thread calls ServeOnNewThread.
  net::IdleParker parker_;
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_ZEO_SERVER_H_
