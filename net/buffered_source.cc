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
    // Read into the stack and keep only what the caller does not take: the
    // heap holds no chunk while this waits for bytes, nor after a read that
    // the caller takes whole. (A chunk allocated for every connection's
    // first read stayed in the allocator's free lists: 16 KiB of resident
    // memory per idle client of a translator.)
    char chunk[kChunkBytes];
    absl::StatusOr<size_t> r = inner_->Read(chunk, sizeof(chunk), deadline);
    if (!r.ok()) return r.status();
    const size_t k = std::min(n, *r);
    std::memcpy(out, chunk, k);
    if (*r > k) {
      buffer_.assign(chunk + k, *r - k);
      taken_ = 0;
    }
    return k;
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
