// examples/redis_module/acl.hpp — Redis ACL key permissions for the FT.* commands.
//
// The rule (valkey-search's, the compatibility target): FT.CREATE, FT.SEARCH, FT.INFO and
// FT.DROPINDEX need the calling user to be allowed to read every key under every prefix the index
// covers (an index without PREFIX covers all keys). Otherwise the command is refused with NOPERM and
// an entry is added to ACL LOG (reason "key", context "module", object "<prefix>*"). A search is
// refused rather than filtered key by key because an index answers for all its keys at once: k,
// totals and scores would still tell a user about keys it may not read.
//
// "May read every key under P" means one of the user's key patterns (~pat, %R~pat or %RW~pat) covers
// P*: the pattern ends with an unescaped `*` and, without its trailing stars, glob-matches a leading
// part of P (so `~public:*` covers `public:` and `public:eu:`, `~*` covers everything, `~public:1`
// covers nothing). Redis 7.0 checks key names only (ACLCheckKeyPermissions), not patterns, so the
// module reads the user's patterns with `ACL GETUSER` (about 0.1-0.2 ms), caches the verdict per user
// and prefix, and drops the cache whenever an ACL or EXEC command runs (a command filter), so a
// changed rule applies to the next command. Selectors' patterns are not used (a selector's key
// patterns come with its own command rules; ignoring them can only refuse more). Each verdict is
// also cross-checked with ACLCheckKeyPermissions on the bare prefix.
//
// Checks are skipped where Redis itself does not check: commands replicated from a master, RDB/AOF
// loading, and calls from other modules (they run as Redis's root user). Main thread only.
// Next: ft_search.hpp, commands.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "module_api.hpp"

namespace vindex_redis {

/// True when the calling user may read every key under each of `prefixes` (empty: every key).
/// Otherwise replies `NOPERM …` naming the prefix, adds an ACL LOG entry and returns false.
bool authorize_prefixes(rm::Ctx* ctx, const std::vector<std::string>& prefixes, std::string_view command,
                        std::string_view index);

/// True when the glob `pattern` (Redis ACL key-pattern syntax) matches every key that starts with
/// `prefix` (see the rule above). Pure function.
bool pattern_covers_prefix(std::string_view pattern, std::string_view prefix);

/// Registers the command filter that forgets cached ACL verdicts when ACL or EXEC runs.
bool register_acl(rm::Ctx* ctx);

}  // namespace vindex_redis
