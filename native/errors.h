// Errors the addon reports to JavaScript.
//
// Native code throws `torov::Error` with a stable code; the N-API boundary
// turns it into the JavaScript TorovError class (src/vmm/errors.ts), so the
// CLI prints one line and never a stack.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace torov {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// "what: strerror(errno)" as an Error with the given code.
inline Error SystemError(const std::string& code, const std::string& what, int err = errno) {
  return Error(code, what + ": " + std::strerror(err));
}

std::string Hex(unsigned long long value);

}  // namespace torov
