#include "raidcore/service/completion_queue_thread.h"

#include <utility>

namespace zeoraid::raidcore {

CompletionQueueThread::CompletionQueueThread(
    std::unique_ptr<grpc::ServerCompletionQueue> cq)
    : cq_(std::move(cq)) {}

CompletionQueueThread::~CompletionQueueThread() { Stop(); }

void CompletionQueueThread::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CompletionQueueThread::Stop() {
  if (stopped_) return;
  stopped_ = true;
  cq_->Shutdown();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    Run();  // never started: the queue must still be drained
  }
}

void CompletionQueueThread::Run() {
  void* tag;
  bool ok;
  while (cq_->Next(&tag, &ok)) static_cast<CqTag*>(tag)->OnEvent(ok);
}

}  // namespace zeoraid::raidcore
