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

}  // namespace zeoraid::raidcore
