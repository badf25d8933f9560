#include "net/idle_parker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "base/mutex.h"
#include "gtest/gtest.h"
#include "net/socket_pair_for_test.h"

namespace zeoraid::net {
namespace {

// Counts the calls of a parked socket's callback. On our Mutex (seen by
// TSan, unlike Debian's Abseil), shared with the callback: the parker's
// thread may still be inside it when a waiter returns.
class WakeState {
 public:
  void Call() {
    {
      MutexLock lock(&mu_);
      ++count_;
    }
    cv_.SignalAll();
  }
  // Whether a call came within `timeout`.
  bool WaitForCall(absl::Duration timeout) {
    const auto deadline = CondVar::DeadlineAfter(timeout);
    MutexLock lock(&mu_);
    while (count_ == 0) {
      if (!cv_.WaitUntil(&mu_, deadline)) return count_ > 0;
    }
    return true;
  }
  int count() {
    MutexLock lock(&mu_);
    return count_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

struct Wakes {
  std::shared_ptr<WakeState> state = std::make_shared<WakeState>();
  std::function<void()> Callback() {
    return [state = state] { state->Call(); };
  }
  bool WaitForCall(absl::Duration timeout) {
    return state->WaitForCall(timeout);
  }
  int count() { return state->count(); }
};

TEST(IdleParkerTest, CallsBackOnceWhenBytesArriveAndLeavesThemUnread) {
  IdleParker parker;
  SocketPair p;
  Wakes wakes;
  ASSERT_TRUE(parker.Park(p.ours.fd(), wakes.Callback()).ok());
  EXPECT_EQ(parker.parked(), 1u);
  EXPECT_FALSE(wakes.WaitForCall(absl::Milliseconds(100)));
  p.Send("x");
  ASSERT_TRUE(wakes.WaitForCall(absl::Seconds(5)));
  EXPECT_EQ(parker.parked(), 0u);
  char c = 0;
  EXPECT_EQ(::recv(p.ours.fd(), &c, 1, MSG_DONTWAIT), 1);
  EXPECT_EQ(c, 'x');
  p.Send("y");  // forgotten: no second call
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(wakes.count(), 1);
}

// Parks one end of a fresh pair after `before` and expects its callback once
// `after` happened.
void ExpectCallBack(const std::function<void(SocketPair&)>& before,
                    const std::function<void(SocketPair&)>& after) {
  IdleParker parker;
  SocketPair p;
  before(p);
  Wakes wakes;
  ASSERT_TRUE(parker.Park(p.ours.fd(), wakes.Callback()).ok());
  after(p);
  EXPECT_TRUE(wakes.WaitForCall(absl::Seconds(5)));
}

TEST(IdleParkerTest, InputAlreadyWaitingCallsBackAtOnce) {
  ExpectCallBack([](SocketPair& p) { p.Send("x"); }, [](SocketPair&) {});
}

TEST(IdleParkerTest, ThePeerClosingCallsBack) {
  ExpectCallBack([](SocketPair&) {}, [](SocketPair& p) { p.peer = Socket(); });
}

TEST(IdleParkerTest, OurOwnShutdownCallsBack) {
  // How a session disconnects a parked client: its thread comes back and
  // finds the end of the stream.
  ExpectCallBack([](SocketPair&) {}, [](SocketPair& p) { p.ours.Shutdown(); });
}

TEST(IdleParkerTest, ASocketParksAgainAfterItsCall) {
  IdleParker parker;
  SocketPair p;
  for (int round = 0; round < 3; ++round) {
    Wakes wakes;
    ASSERT_TRUE(parker.Park(p.ours.fd(), wakes.Callback()).ok());
    p.Send("x");
    ASSERT_TRUE(wakes.WaitForCall(absl::Seconds(5))) << "round " << round;
    char c;
    ASSERT_EQ(::recv(p.ours.fd(), &c, 1, MSG_DONTWAIT), 1);
  }
}

TEST(IdleParkerTest, ManySocketsEachCalledBackForItsOwnInput) {
  constexpr int kSockets = 100;
  // Declared first, destroyed last: a parked socket stays open (the contract).
  std::vector<std::unique_ptr<SocketPair>> pairs;
  std::vector<std::unique_ptr<Wakes>> wakes;
  IdleParker parker;
  for (int i = 0; i < kSockets; ++i) {
    pairs.push_back(std::make_unique<SocketPair>());
    wakes.push_back(std::make_unique<Wakes>());
    ASSERT_TRUE(parker.Park(pairs[i]->ours.fd(), wakes[i]->Callback()).ok());
  }
  for (int i = 0; i < kSockets; i += 2) pairs[i]->Send("x");
  for (int i = 0; i < kSockets; i += 2) {
    ASSERT_TRUE(wakes[i]->WaitForCall(absl::Seconds(5)));
  }
  absl::SleepFor(absl::Milliseconds(50));
  for (int i = 1; i < kSockets; i += 2) {
    EXPECT_EQ(wakes[i]->count(), 0) << i;
  }
  EXPECT_EQ(parker.parked(), static_cast<size_t>(kSockets / 2));
}

TEST(IdleParkerTest, DestroyedWithParkedSocketsDropsTheirCallbacks) {
  SocketPair p;
  auto owned = std::make_shared<int>(7);
  std::weak_ptr<int> watch = owned;
  bool called = false;
  {
    IdleParker parker;
    ASSERT_TRUE(
        parker.Park(p.ours.fd(), [owned, &called] { called = true; }).ok());
    owned.reset();
    EXPECT_FALSE(watch.expired());  // the parker holds it
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_FALSE(called);
}

TEST(IdleParkerTest, ABadDescriptorIsRefused) {
  IdleParker parker;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  bool called = false;
  EXPECT_FALSE(parker.Park(fds[0], [&called] { called = true; }).ok());
  EXPECT_EQ(parker.parked(), 0u);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace zeoraid::net
