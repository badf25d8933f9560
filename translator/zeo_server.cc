#include "translator/zeo_server.h"

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace zeoraid::translator {

ZeoServer::ZeoServer(v1::Storage::Stub* stub, InvalidationFanout* fanout,
                     SessionOptions options, ServerLimits limits)
    : stub_(stub),
      fanout_(fanout),
      limits_(limits),
      frame_budget_(limits.frame_budget_bytes),
      options_(options) {
  options_.flusher = &flusher_;
  options_.frame_budget = &frame_budget_;
  if (limits.park_idle_after > absl::ZeroDuration()) {
    if (parker_.running()) {
      options_.park_after = limits.park_idle_after;
    } else {
      ZR_LOG(WARNING) << "cannot watch idle connections (epoll): each keeps "
                         "its own thread";
    }
  }
}

absl::Status ZeoServer::Listen(const std::string& address) {
  absl::StatusOr<net::Socket> listener = net::Listen(address);
  if (!listener.ok()) return listener.status();
  listener_ = std::move(*listener);
  return absl::OkStatus();
}

void ZeoServer::Run() {
  while (!stopping_) {
    absl::StatusOr<net::Socket> socket =
        net::Accept(listener_, absl::Milliseconds(500));
    if (!socket.ok()) {
      if (socket.status().code() != absl::StatusCode::kDeadlineExceeded) {
        ZR_LOG(WARNING) << "accept: " << socket.status().message();
      }
      continue;
    }
    if (limits_.max_connections > 0) {
      bool full;
      {
        MutexLock lock(&mu_);
        full = sessions_.size() >= static_cast<size_t>(limits_.max_connections);
      }
      if (full) {
        Refuse(std::move(*socket));
        continue;
      }
    }
    uint64_t id = next_id_++;
    std::string peer = net::PeerAddress(*socket);
    auto session = std::make_shared<ClientSession>(
        id, std::move(*socket), std::move(peer), stub_, fanout_, options_);
    ZR_LOG(DEBUG) << "connection " << id << " accepted";
    {
      MutexLock lock(&mu_);
      sessions_[id] = session;
    }
    ServeOnNewThread(std::move(session), id);
  }
}

void ZeoServer::ServeOnNewThread(std::shared_ptr<ClientSession> session,
                                 uint64_t id) {
  // The session is owned by its thread while it runs and by the parker while
  // it is parked; the fan-out holds it too once registered. DrainSessions
  // waits for every session to end.
  std::thread([this, session = std::move(session), id] {
    while (session->Serve() == ClientSession::ServeResult::kParked) {
      // Counted first: the parker may hand it back before Park returns.
      if (options_.metrics != nullptr) options_.metrics->ConnectionParked();
      absl::Status parked = parker_.Park(session->fd(), [this, session, id] {
        // On the parker's thread, which must not block.
        if (options_.metrics != nullptr) {
          options_.metrics->ConnectionUnparked();
        }
        ServeOnNewThread(session, id);
      });
      if (parked.ok()) return;
      if (options_.metrics != nullptr) options_.metrics->ConnectionUnparked();
      // Served on, on this thread.
      ZR_LOG(WARNING) << "connection " << id
                      << " cannot be parked: " << parked.message();
    }
    SessionEnded(id);
  }).detach();
}

void ZeoServer::Refuse(net::Socket socket) {
  // Closed before a byte is sent: the client sees the connection end at
  // once and retries later, as it does when a server is down.
  std::string peer = net::PeerAddress(socket);
  socket = net::Socket();
  if (options_.metrics != nullptr) options_.metrics->CountRefusedConnection();
  ++refused_unlogged_;
  const absl::Time now = absl::Now();
  if (now - refused_logged_ >= absl::Seconds(10)) {
    ZR_LOG(WARNING) << "refused " << refused_unlogged_
                    << " connection(s) (latest from " << peer
                    << "): " << limits_.max_connections
                    << " clients connected, the --max_connections cap";
    refused_unlogged_ = 0;
    refused_logged_ = now;
  }
}

void ZeoServer::SessionEnded(uint64_t id) {
  {
    MutexLock lock(&mu_);
    sessions_.erase(id);
  }
  ended_cv_.SignalAll();
}

bool ZeoServer::DrainSessions(absl::Duration timeout) {
  std::vector<std::shared_ptr<ClientSession>> live;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (const auto& s : live) s->Disconnect("translator shutting down");
  live.clear();
  auto deadline = CondVar::DeadlineAfter(timeout);
  MutexLock lock(&mu_);
  while (!sessions_.empty()) {
    if (!ended_cv_.WaitUntil(&mu_, deadline)) return sessions_.empty();
  }
  return true;
}

}  // namespace zeoraid::translator
