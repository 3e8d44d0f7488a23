// A C++ program as g++ builds it by default: libstdc++ and libgcc_s from
// the host, an exception thrown through frames and caught, iostreams,
// std::thread. Prints the same natively and under torov.
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static int depth(int n) {
  if (n == 0) throw std::runtime_error("thrown five frames down");
  std::vector<std::string> keep(3, "frame");  // destroyed as the exception passes
  return depth(n - 1) + 1;
}

int main(int argc, char** argv) {
  try {
    depth(5);
  } catch (const std::exception& e) {
    std::cout << "caught: " << e.what() << "\n";
  }
  std::map<std::string, int> m{{"one", 1}, {"two", 2}};
  std::string from_thread;
  std::thread t([&] { from_thread = "thread ran, sum " + std::to_string(m["one"] + m["two"]); });
  t.join();
  std::cout << from_thread << "\n";
  try {
    std::vector<int>().at(3);
  } catch (const std::out_of_range&) {
    std::cout << "out_of_range caught\n";
  }
  return argc == 1 ? 0 : 1;
}
