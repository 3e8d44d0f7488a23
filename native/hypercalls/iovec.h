// Guest iovec arrays, shared by the I/O and socket families.
#pragma once

#include <sys/uio.h>

#include <vector>

#include "../process.h"

namespace torov {

// Translates `count` guest iovecs at `addr` into host iovecs over guest
// memory. A vector that runs off a mapping is cut there, and the rest is
// dropped; -EFAULT when not even the first byte is accessible, -EINVAL for a
// count over IOV_MAX or a total over SSIZE_MAX. 0 on success.
int GuestIovecs(const Process& g, uint64_t addr, uint64_t count, Access access, std::vector<iovec>* out);

}  // namespace torov
