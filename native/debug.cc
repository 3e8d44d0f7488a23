#include "debug.h"

namespace torov {

bool PlanDebugRegisters(const std::vector<uint64_t>& breaks, const std::vector<Watch>& watches,
                        DebugRegisterPlan* plan) {
  *plan = DebugRegisterPlan{};
  // DR7: L<n> enables register n; its R/W field (00 execute, 01 write, 11
  // read or write) and LEN field (00 1 byte, 01 2, 11 4, 10 8) sit at
  // 16 + 4n and 18 + 4n. Bit 10 always reads 1.
  uint64_t dr7 = 1u << 10;
  auto add = [&](uint64_t addr, int watch, uint64_t rw, uint64_t size) {
    if (plan->used == kDebugRegisters) return false;
    const int n = plan->used++;
    plan->slot[n] = {addr, watch};
    const uint64_t len = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 3 : 2;
    dr7 |= (uint64_t{1} << (2 * n)) | (rw << (16 + 4 * n)) | (len << (18 + 4 * n));
    return true;
  };
  for (uint64_t addr : breaks)
    if (!add(addr, -1, 0, 1)) return false;
  for (size_t i = 0; i < watches.size(); i++) {
    const Watch& w = watches[i];
    const uint64_t rw = w.kind == 'w' ? 1 : 3;
    for (uint64_t at = w.addr, end = w.addr + w.len; at < end;) {
      uint64_t size = 8;
      while (size > end - at || at % size) size /= 2;
      if (!add(at, static_cast<int>(i), rw, size)) return false;
      at += size;
    }
  }
  plan->dr7 = dr7;
  return true;
}

}  // namespace torov
