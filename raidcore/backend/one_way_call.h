// OneWayCall: a one-way ZEO call bound for several backends, encoded at most
// once per encoding. A transaction's tpc_begin and stores go to every mirror
// alike: encoded once, each mirror's connection copies the same bytes. A
// store (OneWayCall::Storea) is pickled straight from its record: the
// message's Value form is built only when asked for (msgpack, args()).
#ifndef ZEORAID_RAIDCORE_BACKEND_ONE_WAY_CALL_H_
#define ZEORAID_RAIDCORE_BACKEND_ONE_WAY_CALL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "zeo/message.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// Not thread-safe: one thread hands it to each connection in turn.
class OneWayCall {
 public:
  OneWayCall(std::string method, zeo::Value::Items args)
      : method_(method),
        message_(zeo::MakeOneway(std::move(method), std::move(args))) {}

  // storea(oid, serial or None when null, data, txn_id).
  static OneWayCall Storea(absl::string_view oid,
                           const absl::string_view* serial,
                           absl::string_view data, int64_t txn_id);

  const std::string& method() const { return method_; }
  const zeo::Value::Items& args();
  // The frame payload in `encoding`, encoded on its first request; an error
  // when that encoding cannot carry the call (msgpack and Python objects).
  const absl::StatusOr<std::string>& Payload(zeo::Encoding encoding);

 private:
  OneWayCall() = default;
  // The message, made from the pickle payload when there is none yet.
  const zeo::Message& message();

  std::string method_;
  std::optional<zeo::Message> message_;
  std::optional<absl::StatusOr<std::string>> payloads_[2];  // by encoding
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_ONE_WAY_CALL_H_
