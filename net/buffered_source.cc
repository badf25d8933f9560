#include "net/buffered_source.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace zeoraid::net {

absl::StatusOr<size_t> BufferedSource::Read(char* out, size_t n,
                                            absl::Time deadline) {
  if (n == 0) return 0;
  if (buffered() == 0) {
    if (n >= kChunkBytes) return inner_->Read(out, n, deadline);
    buffer_.resize(kChunkBytes);
    absl::StatusOr<size_t> r =
        inner_->Read(buffer_.data(), buffer_.size(), deadline);
    if (!r.ok() || *r == 0) {
      std::string().swap(buffer_);
      taken_ = 0;
      if (!r.ok()) return r.status();
      return 0;
    }
    buffer_.resize(*r);
    taken_ = 0;
  }
  const size_t k = std::min(n, buffered());
  std::memcpy(out, buffer_.data() + taken_, k);
  taken_ += k;
  if (taken_ == buffer_.size()) {
    // Drained: give the memory back until bytes come again.
    std::string().swap(buffer_);
    taken_ = 0;
  }
  return k;
}

bool BufferedSource::HasPendingInput() {
  return buffered() > 0 || inner_->HasPendingInput();
}

}  // namespace zeoraid::net
