#include "translator/zeo_server.h"

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace zeoraid::translator {

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
    uint64_t id = next_id_++;
    std::string peer = net::PeerAddress(*socket);
    auto session = std::make_shared<ClientSession>(
        id, std::move(*socket), std::move(peer), stub_, fanout_, options_);
    ZR_LOG(DEBUG) << "connection " << id << " accepted";
    // The session owns itself while its thread runs; the fan-out holds it too
    // once registered.
    std::thread([session] { session->Serve(); }).detach();
  }
}

}  // namespace zeoraid::translator
