#include "base/worker_pool.h"

#include <atomic>
#include <chrono>

#include "gtest/gtest.h"

namespace zeoraid {
namespace {

TEST(WorkerPoolTest, RunsEveryJobBeforeItIsDestroyed) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(3);
    for (int i = 0; i < 1000; ++i) pool.Submit([&ran] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(WorkerPoolTest, JobsOverlap) {
  // Two jobs that each wait for the other can only finish on two threads.
  std::atomic<int> arrived{0};
  std::atomic<int> finished{0};
  {
    WorkerPool pool(2);
    for (int i = 0; i < 2; ++i) {
      pool.Submit([&] {
        ++arrived;
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (arrived.load() < 2 &&
               std::chrono::steady_clock::now() < deadline) {
          std::this_thread::yield();
        }
        if (arrived.load() == 2) ++finished;
      });
    }
  }
  EXPECT_EQ(finished.load(), 2);
}

}  // namespace
}  // namespace zeoraid
