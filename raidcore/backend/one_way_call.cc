#include "raidcore/backend/one_way_call.h"

#include <cstdint>
#include <utility>

#include "zeo/storea_frame.h"

namespace zeoraid::raidcore {
namespace {

// storea's arguments as the general encoder takes them.
zeo::Value::Items StoreaArgs(absl::string_view oid,
                             const absl::string_view* serial,
                             absl::string_view data, int64_t txn_id) {
  return {zeo::Value::Bytes(std::string(oid)),
          serial == nullptr ? zeo::Value::None()
                            : zeo::Value::Bytes(std::string(*serial)),
          zeo::Value::Bytes(std::string(data)), zeo::Value::Int(txn_id)};
}

}  // namespace

OneWayCall OneWayCall::Storea(absl::string_view oid,
                              const absl::string_view* serial,
                              absl::string_view data, int64_t txn_id) {
  if (oid.size() != 8 || (serial != nullptr && serial->size() != 8)) {
    // Not a store a client sends; the general encoder writes what it is.
    return OneWayCall("storea", StoreaArgs(oid, serial, data, txn_id));
  }
  OneWayCall call;
  call.method_ = "storea";
  call.payloads_[0] = zeo::EncodeStoreaPickle(oid, serial, data, txn_id);
  return call;
}

const zeo::Message& OneWayCall::message() {
  if (!message_.has_value()) {
    // Only Storea leaves it unset, with a pickle the parser reads (8-byte
    // oid and serial), whatever the record's size.
    zeo::DecodeLimits unbounded;
    unbounded.max_frame_bytes = unbounded.max_string_bytes = SIZE_MAX;
    std::optional<zeo::StoreaFrame> f =
        zeo::ParseStoreaPickle(*payloads_[0].value(), unbounded);
    zeo::Value::Items args;
    if (f.has_value()) {
      args = StoreaArgs(f->oid, f->serial_is_none ? nullptr : &f->serial,
                        f->data, f->txn_id);
    }
    message_ = zeo::MakeOneway(method_, std::move(args));
  }
  return *message_;
}

const zeo::Value::Items& OneWayCall::args() { return message().args.items(); }

const absl::StatusOr<std::string>& OneWayCall::Payload(zeo::Encoding encoding) {
  std::optional<absl::StatusOr<std::string>>& payload =
      payloads_[encoding == zeo::Encoding::kMsgpack ? 1 : 0];
  if (!payload.has_value())
    payload = zeo::TryEncodeMessage(message(), encoding);
  return *payload;
}

}  // namespace zeoraid::raidcore
