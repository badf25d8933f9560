// ReadPump: reads a ByteSource on a thread of its own into a small bounded
// buffer, so that a peer is read while the connection's thread is busy with
// a long call (a vote waiting for the commit lock).
//
// TLS needs this: a TLS client that closes its connection sends close_notify
// and waits for the server's answer (ZEO's ClientStorage.close gives up after
// 10 s); over plain TCP a close needs no answer. The buffer is bounded, so a
// client that keeps sending while its calls wait is held back as before.
#ifndef ZEORAID_NET_READ_PUMP_H_
#define ZEORAID_NET_READ_PUMP_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "base/mutex.h"
#include "net/frame_reader.h"

namespace zeoraid::net {

class ReadPump final : public ByteSource {
 public:
  // `stop` must make a blocked `inner->Read` return (shut the socket down);
  // the destructor calls it before joining the thread.
  ReadPump(std::unique_ptr<ByteSource> inner, size_t max_buffered,
           std::function<void()> stop);
  ~ReadPump() override;
  ReadPump(const ReadPump&) = delete;
  ReadPump& operator=(const ReadPump&) = delete;

  // ByteSource: what the pump read, then the inner source's end (its error).
  absl::StatusOr<size_t> Read(char* out, size_t n,
                              absl::Time deadline) override;
  bool HasPendingInput() override;

 private:
  void Run();

  const std::unique_ptr<ByteSource> inner_;  // read by the thread only
  const size_t max_buffered_;
  const std::function<void()> stop_;
  Mutex mu_;
  CondVar changed_cv_;  // bytes arrived or were taken, the end, or stopping
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  size_t taken_ ABSL_GUARDED_BY(mu_) = 0;  // of buffer_, already read
  absl::Status end_ ABSL_GUARDED_BY(mu_);  // set when the inner source ended
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_READ_PUMP_H_
