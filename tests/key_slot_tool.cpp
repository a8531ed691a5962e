// Prints the Redis Cluster slot of each key read from stdin (one hex-encoded key per line), as the
// Redis module computes it (examples/redis_module/key_slot.cpp). tests/redis/test_cluster_search.py
// compares its output with CLUSTER KEYSLOT on a real server.
#include <iostream>
#include <string>

#include "key_slot.hpp"

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string key;
    for (std::size_t i = 0; i + 1 < line.size(); i += 2) key.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
    std::cout << vindex_redis::key_slot(key) << '\n';
  }
  return 0;
}
