// examples/redis_module/commands.hpp — registers the FT.* commands with the server.
//
// FT.CREATE, FT.SEARCH, FT.INFO, FT.DROPINDEX and FT._LIST, with replies in RediSearch's formats.
// Main thread only. Next: events.hpp.
#pragma once

#include "module_api.hpp"

namespace vindex_redis {

/// Registers every FT.* command; false when the server refused one.
bool register_commands(rm::Ctx* ctx);

}  // namespace vindex_redis
