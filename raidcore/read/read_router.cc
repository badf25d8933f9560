#include "raidcore/read/read_router.h"

#include "absl/strings/str_cat.h"

namespace zeoraid::raidcore {

absl::StatusOr<ZeoReply> ReadRouter::Read(absl::string_view method,
                                          const zeo::Value::Items& args) {
  while (true) {
    absl::StatusOr<BackendMember> member = backends_->PickReader();
    if (!member.ok()) return member.status();
    const bool slow = method == "undoLog" || method == "undoInfo";
    absl::StatusOr<ZeoReply> reply =
        member->connection->Call(method, args, slow ? slow_timeout_ : timeout_);
    if (reply.ok()) return reply;
    backends_->Degrade(
        member->name,
        absl::StrCat(method, " failed: ", reply.status().message()));
  }
}

absl::StatusOr<std::vector<ZeoReply>> ReadRouter::ReadRepeatedOnFirst(
    absl::string_view method, const zeo::Value::Items& args, int times) {
  while (true) {
    std::vector<BackendMember> optimal = backends_->Optimal();
    if (optimal.empty()) {
      return absl::UnavailableError("RAID failed: no optimal backend");
    }
    const BackendMember& member = optimal.front();
    std::vector<std::unique_ptr<BackendConnection::PendingCall>> pending;
    pending.reserve(times);
    for (int i = 0; i < times; ++i) {
      pending.push_back(member.connection->Start(method, args, timeout_));
    }
    std::vector<ZeoReply> replies;
    absl::Status failure;
    for (auto& call : pending) {
      absl::StatusOr<ZeoReply> reply = call->Await();
      if (!reply.ok()) {
        failure = reply.status();
      } else if (failure.ok()) {
        replies.push_back(*std::move(reply));
      }
    }
    if (failure.ok()) return replies;
    backends_->Degrade(member.name,
                       absl::StrCat(method, " failed: ", failure.message()));
  }
}

absl::StatusOr<SnapshotReply> ReadRouter::ReadAtSnapshot(
    absl::string_view method, const zeo::Value::Items& args) {
  // Bounded: under a storm of commits a reader gives up rather than spin.
  for (int attempt = 0; attempt < 100; ++attempt) {
    CommitClock::Stamp stamp = clock_->Begin();
    absl::StatusOr<ZeoReply> reply = Read(method, args);
    if (!reply.ok()) return reply.status();
    if (clock_->Unchanged(stamp)) {
      return SnapshotReply{std::move(*reply), std::move(stamp.last_tid)};
    }
    // A finish overlapped the read: the answer may or may not include it. Ask
    // again.
  }
  return absl::UnavailableError(
      absl::StrCat(method, " kept overlapping commits; try again"));
}

void ReadRouter::ReadAtSnapshotThen(std::string method, zeo::Value::Items args,
                                    SnapshotCallback done) {
  // Slow cases run the blocking ReadAtSnapshot on the pool, first degrading
  // the backend that failed (Degrade may close its connection: never on that
  // connection's reader thread).
  auto slow = [this](std::string method, zeo::Value::Items args,
                     std::string failed, absl::Status why,
                     SnapshotCallback done) {
    fallback_.Submit([this, method = std::move(method), args = std::move(args),
                      failed = std::move(failed), why = std::move(why),
                      done = std::move(done)] {
      if (!failed.empty()) {
        backends_->Degrade(failed,
                           absl::StrCat(method, " failed: ", why.message()));
      }
      done(ReadAtSnapshot(method, args));
    });
  };
  std::optional<CommitClock::Stamp> stamp = clock_->TryBegin();
  if (!stamp.has_value()) {  // a finish is in progress: wait on the pool
    slow(std::move(method), std::move(args), "", absl::OkStatus(),
         std::move(done));
    return;
  }
  absl::StatusOr<BackendMember> member = backends_->PickReader();
  if (!member.ok()) {
    done(member.status());
    return;
  }
  std::shared_ptr<BackendConnection> connection = member->connection;
  zeo::Value::Items sent = args;
  connection->StartThen(
      method, std::move(sent), timeout_,
      [this, slow, name = std::move(member->name), method,
       args = std::move(args), stamp = std::move(*stamp),
       done = std::move(done)](absl::StatusOr<ZeoReply> reply) mutable {
        if (reply.ok() && clock_->Unchanged(stamp)) {
          done(SnapshotReply{std::move(*reply), std::move(stamp.last_tid)});
          return;
        }
        slow(std::move(method), std::move(args),
             reply.ok() ? std::string() : std::move(name),
             reply.ok() ? absl::OkStatus() : reply.status(), std::move(done));
      });
}

}  // namespace zeoraid::raidcore
