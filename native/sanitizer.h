// What the sanitizer builds of scripts/sanitize.mjs add (-DTOROV_SANITIZER;
// the normal build has none of it).
#pragma once

namespace torov {

#ifdef TOROV_SANITIZER
// With TOROV_SANITIZER_CANARY=1 in Node's environment, every getppid a
// guest makes runs a known bug on its vCPU thread: a read one byte past a
// heap block (AddressSanitizer's) and an unlocked increment of a counter
// every vCPU thread shares (ThreadSanitizer's, with two guest threads).
// scripts/sanitize.mjs runs it first, to show that a report made on a
// chrooted, filtered vCPU thread reaches its folder and is counted as
// torov's; a run whose canary is not reported proves nothing.
void SanitizerCanary();
bool SanitizerCanaryOn();
#endif

}  // namespace torov
