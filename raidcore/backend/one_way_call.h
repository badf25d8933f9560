// OneWayCall: a one-way ZEO call bound for several backends, encoded at most
// once per encoding. A transaction's tpc_begin and stores go to every mirror
// alike: encoded once, each mirror's connection copies the same bytes.
#ifndef ZEORAID_RAIDCORE_BACKEND_ONE_WAY_CALL_H_
#define ZEORAID_RAIDCORE_BACKEND_ONE_WAY_CALL_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "zeo/message.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// Not thread-safe: one thread hands it to each connection in turn.
class OneWayCall {
 public:
  OneWayCall(std::string method, zeo::Value::Items args)
      : message_(zeo::MakeOneway(std::move(method), std::move(args))) {}

  const std::string& method() const { return message_.name; }
  const zeo::Value::Items& args() const { return message_.args.items(); }
  // The frame payload in `encoding`, encoded on its first request; an error
  // when that encoding cannot carry the call (msgpack and Python objects).
  const absl::StatusOr<std::string>& Payload(zeo::Encoding encoding);

 private:
  zeo::Message message_;
  std::optional<absl::StatusOr<std::string>> payloads_[2];  // by encoding
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_ONE_WAY_CALL_H_
