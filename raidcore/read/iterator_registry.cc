#include "raidcore/read/iterator_registry.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

Value TidOrNone(const std::string& tid) {
  return tid.empty() ? Value::None() : Value::Bytes(tid);
}

// As ZEO's server: KeyError(iid), from its dict of iterators.
ZeoReply UnknownIterator(uint64_t id) {
  return ZeoReply::Error("builtins.KeyError",
                         Value::Tuple({Value::Int(static_cast<int64_t>(id))}));
}

}  // namespace

size_t IteratorRegistry::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

uint64_t IteratorRegistry::Register(BackendMember backend, Value backend_id) {
  uint64_t id;
  std::vector<uint64_t> evict;
  {
    MutexLock lock(&mu_);
    // Unguessable, so that no caller can drive or close an iterator it was
    // not given (translators also map them to per-connection ids).
    do {
      id = absl::Uniform<uint64_t>(random_, 1, uint64_t{1} << 62);
    } while (entries_.count(id) != 0);
    entries_[id] = Entry{std::move(backend), std::move(backend_id), ++uses_};
    if (entries_.size() > max_iterators_) {
      // The iterator left unused longest was most likely abandoned.
      auto idlest = entries_.begin();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->second.last_used < idlest->second.last_used) idlest = it;
      }
      ZR_LOG(WARNING) << "too many open iterators; dropping iterator "
                      << idlest->first << ", unused the longest";
      evict.push_back(idlest->first);
    }
  }
  Forget(evict);  // also frees it on its backend
  return id;
}

absl::StatusOr<ZeoReply> IteratorRegistry::Start(const std::string& start,
                                                 const std::string& stop) {
  while (true) {
    absl::StatusOr<BackendMember> member = backends_->PickReader();
    if (!member.ok()) return member.status();
    absl::StatusOr<ZeoReply> reply = member->connection->Call(
        "iterator_start", {TidOrNone(start), TidOrNone(stop)}, timeout_);
    if (!reply.ok()) {
      // Nothing was iterated yet: another backend can start it.
      backends_->Degrade(member->name, absl::StrCat("iterator_start failed: ",
                                                    reply.status().message()));
      continue;
    }
    if (reply->is_error) return reply;
    uint64_t id = Register(std::move(*member), reply->value);
    return ZeoReply::Result(Value::Int(static_cast<int64_t>(id)));
  }
}

absl::StatusOr<ZeoReply> IteratorRegistry::CallOn(uint64_t id,
                                                  absl::string_view method,
                                                  Value::Items extra_args,
                                                  bool forget_at_end) {
  Entry entry;
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return UnknownIterator(id);
    it->second.last_used = ++uses_;
    entry = it->second;
  }
  Value::Items args = {entry.backend_id};
  for (Value& v : extra_args) args.push_back(std::move(v));
  absl::StatusOr<ZeoReply> reply =
      entry.backend.connection->Call(method, std::move(args), timeout_);
  if (!reply.ok()) {
    // A half-read iterator cannot move to another backend: the client sees the
    // failure (and may start again).
    backends_->Degrade(
        entry.backend.name,
        absl::StrCat(method, " failed: ", reply.status().message()));
    Forget({id});
    return reply;
  }
  if (forget_at_end && !reply->is_error && reply->value.is_none()) {
    // The backend forgets an exhausted iterator by itself.
    MutexLock lock(&mu_);
    entries_.erase(id);
  }
  return reply;
}

absl::StatusOr<ZeoReply> IteratorRegistry::Next(uint64_t id) {
  return CallOn(id, "iterator_next", {}, /*forget_at_end=*/true);
}

absl::StatusOr<ZeoReply> IteratorRegistry::RecordStart(uint64_t id,
                                                       const std::string& tid) {
  Entry entry;
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return UnknownIterator(id);
    entry = it->second;
  }
  absl::StatusOr<ZeoReply> reply =
      CallOn(id, "iterator_record_start", {Value::Bytes(tid)}, false);
  if (!reply.ok() || reply->is_error) return reply;
  uint64_t record_id = Register(entry.backend, reply->value);
  return ZeoReply::Result(Value::Int(static_cast<int64_t>(record_id)));
}

absl::StatusOr<ZeoReply> IteratorRegistry::RecordNext(uint64_t id) {
  return CallOn(id, "iterator_record_next", {}, /*forget_at_end=*/true);
}

void IteratorRegistry::Forget(const std::vector<uint64_t>& ids) {
  std::map<std::string, std::pair<BackendMember, Value::Items>> gc;
  {
    MutexLock lock(&mu_);
    for (uint64_t id : ids) {
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      auto& [member, backend_ids] = gc[it->second.backend.name];
      member = it->second.backend;
      backend_ids.push_back(it->second.backend_id);
      entries_.erase(it);
    }
  }
  for (auto& [name, entry] : gc) {
    // One-way and best effort: a backend that is gone has forgotten them
    // anyway.
    entry.first.connection
        ->Send("iterator_gc", {Value::List(std::move(entry.second))})
        .IgnoreError();
  }
}

}  // namespace zeoraid::raidcore
