// Specification of the Redis module's pure cluster code: key slots, frames and their reassembly,
// message bodies, and the catalog's merge rules. No server needed (the module's sources are
// compiled in; none of them calls the Redis API).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "answer_retry.hpp"
#include "catalog.hpp"
#include "cluster_frame.hpp"
#include "cluster_messages.hpp"
#include "index_spec.hpp"
#include "key_slot.hpp"

using namespace vindex_redis;

// ---- key slots ----------------------------------------------------------------------------------

TEST_CASE("key slots match Redis Cluster's published values") {
  CHECK(crc16_xmodem("123456789") == 0x31C3);
  CHECK(key_slot("123456789") == 12739);
  CHECK(key_slot("foo") == 12182);
  CHECK(key_slot("somekey") == 11058);
  CHECK(key_slot("{user1000}.following") == 3443);
  CHECK(key_slot("{user1000}.followers") == 3443);
  CHECK(key_slot("") == 0);
}

TEST_CASE("hash tags: the first '{', the first '}' after it, and never an empty tag") {
  CHECK(key_slot("foo{bar}zap") == key_slot("bar"));
  CHECK(key_slot("foo{}{bar}") == key_slot(std::string_view("foo{}{bar}")));  // empty first tag: whole key
  CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
  CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
  CHECK(key_slot("{bar") == crc16_xmodem("{bar") % 16384);
  CHECK(key_slot("bar}") == crc16_xmodem("bar}") % 16384);
  CHECK(key_slot("}{x}") == key_slot("x"));
  CHECK(key_slot(std::string("a{\0b}c", 6)) == key_slot(std::string("\0b", 2)));
}

TEST_CASE("slot sets convert to and from ranges") {
  SlotSet s;
  s.add({0, 5460});
  s.add({5462, 5462});
  s.add({16383, 16383});
  s.add({10, 5});       // ignored: reversed
  s.add({16000, 16384}); // ignored: out of range
  CHECK(s.count() == 5461 + 2);
  CHECK(s.ranges() == std::vector<SlotRange>{{0, 5460}, {5462, 5462}, {16383, 16383}});
  CHECK(to_string(s.ranges()) == "0-5460,5462,16383");
  SlotSet sub;
  sub.add({100, 200});
  CHECK(s.includes(sub));
  CHECK_FALSE(sub.includes(s));
  CHECK(s.without(sub).count() == s.count() - 101);
  CHECK(s.contains_key("foo") == s.contains(12182));
  CHECK(to_string(std::vector<SlotRange>{}) == "none");
}

TEST_CASE("a prefix fixes a hash tag only when its first '{' and the '}' after it are in it") {
  CHECK(prefix_hash_tag("{tenant7}:") == std::optional<std::string_view>("tenant7"));
  CHECK(prefix_hash_tag("doc:{t}") == std::optional<std::string_view>("t"));
  CHECK(prefix_hash_tag("a{{b}") == std::optional<std::string_view>("{b"));
  CHECK(prefix_hash_tag("doc:") == std::nullopt);        // a later '{' in the key can make any tag
  CHECK(prefix_hash_tag("{tenant") == std::nullopt);     // the tag goes on past the prefix
  CHECK(prefix_hash_tag("{}{x}") == std::nullopt);       // an empty first tag: the whole key is hashed
  CHECK(prefix_hash_tag("}{x}") == std::optional<std::string_view>("x"));
  CHECK(prefix_hash_tag("") == std::nullopt);
  CHECK(prefix_slots({}) == std::nullopt);               // no prefix: every key
  CHECK(prefix_slots({"{a}:", "b:"}) == std::nullopt);   // one prefix without a tag is enough
  const std::optional<SlotSet> two = prefix_slots({"{a}:", "x{b}", "{a}y"});
  REQUIRE(two);
  CHECK(two->count() == 2);
  CHECK(two->contains(key_slot("a")));
  CHECK(two->contains(key_slot("b")));
}

TEST_CASE("every key with a tag-fixing prefix is in the prefix's slot (random binary suffixes)") {
  std::mt19937_64 rng(20261202);
  const std::string alphabet("{}ab\0", 5);
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string prefix, suffix;
    for (std::size_t n = rng() % 7; n > 0; --n) prefix += alphabet[rng() % alphabet.size()];
    for (std::size_t n = rng() % 7; n > 0; --n) suffix += alphabet[rng() % alphabet.size()];
    const std::optional<SlotSet> slots = prefix_slots({prefix});
    if (!slots) continue;
    ++checked;
    CHECK(slots->count() == 1);
    CHECK(slots->contains(key_slot(prefix + suffix)));
  }
  CHECK(checked > 1000);
}

// ---- frames -------------------------------------------------------------------------------------

namespace {

std::string flip_bit(std::string s, std::size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

const std::string kSender(40, 'a');

}  // namespace

TEST_CASE("a frame round-trips and carries its header") {
  const auto frames = encode_frames(MessageKind::kSearchRequest, 77, 12345, "hello");
  REQUIRE(frames.size() == 1);
  const Frame f = decode_frame(frames[0]);
  CHECK(f.kind == MessageKind::kSearchRequest);
  CHECK(f.last);
  CHECK(f.chunk == 0);
  CHECK(f.nonce == 77);
  CHECK(f.request_id == 12345);
  CHECK(f.body == "hello");
  CHECK(frames[0].size() == kFrameOverheadBytes + 5);
  // An empty body still makes one frame.
  CHECK(encode_frames(MessageKind::kCatalogGet, 1, 2, "").size() == 1);
}

TEST_CASE("every truncation and every single bit flip of a frame is refused") {
  const std::string frame = encode_frames(MessageKind::kInfoResponse, 9, 10, "some body bytes")[0];
  for (std::size_t n = 0; n < frame.size(); ++n) CHECK_THROWS_AS(decode_frame(frame.substr(0, n)), FrameError);
  for (std::size_t bit = 0; bit < frame.size() * 8; ++bit)
    CHECK_THROWS_AS(decode_frame(flip_bit(frame, bit)), FrameError);
  CHECK_THROWS_AS(decode_frame(frame + "x"), FrameError);
}

TEST_CASE("wrong magic, version, kind and oversized frames are refused") {
  std::string frame = encode_frames(MessageKind::kInfoRequest, 1, 1, "x")[0];
  CHECK_THROWS_WITH_AS(decode_frame(frame, 10), doctest::Contains("exceeds"), FrameError);
  CHECK_THROWS_AS(decode_frame(std::string(64, '\0')), FrameError);
  CHECK_THROWS_AS(encode_frames(MessageKind::kInfoRequest, 1, 1, "x", kFrameOverheadBytes), FrameError);
}

TEST_CASE("a big message is cut into frames within the limit and joined again") {
  std::mt19937 rng(5);
  std::string body(100'000, '\0');
  for (char& c : body) c = static_cast<char>(rng());
  const auto frames = encode_frames(MessageKind::kSearchResponse, 3, 4, body, 4096);
  CHECK(frames.size() == (body.size() + 4096 - kFrameOverheadBytes - 1) / (4096 - kFrameOverheadBytes));
  for (const auto& f : frames) CHECK(f.size() <= 4096);
  Inbox inbox({.max_frame_bytes = 4096});
  std::optional<Message> done;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    done = inbox.accept(kSender, frames[i], 0);
    CHECK(done.has_value() == (i + 1 == frames.size()));
  }
  REQUIRE(done);
  CHECK(done->body == body);
  CHECK(done->request_id == 4);
  CHECK(inbox.partials() == 0);
  CHECK(inbox.counters().messages == 1);
}

TEST_CASE("the inbox drops and counts duplicate, out-of-order, orphaned and corrupt frames") {
  const std::string body(10'000, 'z');
  const auto frames = encode_frames(MessageKind::kSearchResponse, 3, 4, body, 1024);
  REQUIRE(frames.size() > 4);
  Inbox inbox({.max_frame_bytes = 1024});
  CHECK_FALSE(inbox.accept(kSender, frames[0], 0));
  CHECK_FALSE(inbox.accept(kSender, frames[1], 0));
  CHECK_FALSE(inbox.accept(kSender, frames[1], 0));  // duplicate
  CHECK(inbox.counters().duplicate == 1);
  CHECK_FALSE(inbox.accept(kSender, frames[0], 0));  // a second start of the same message
  CHECK(inbox.counters().duplicate == 2);
  CHECK_FALSE(inbox.accept(kSender, frames[3], 0));  // gap: the partial message is dropped
  CHECK(inbox.counters().out_of_order == 1);
  CHECK(inbox.partials() == 0);
  CHECK_FALSE(inbox.accept(kSender, frames[4], 0));  // its later chunks are orphans
  CHECK(inbox.counters().orphaned == 1);
  CHECK_FALSE(inbox.accept(kSender, flip_bit(frames[0], 300), 0));
  CHECK(inbox.counters().malformed == 1);
  std::string other_version = frames[0];
  other_version[4] = static_cast<char>(kFrameVersion + 1);
  CHECK_FALSE(inbox.accept(kSender, other_version, 0));
  CHECK(inbox.counters().wrong_version == 1);
  // The same chunks from another sender are another message.
  std::optional<Message> done;
  for (const auto& f : frames) done = inbox.accept(std::string(40, 'b'), f, 0);
  REQUIRE(done);
  CHECK(done->body == body);
}

TEST_CASE("the inbox bounds message size, partial count and age") {
  const auto frames = encode_frames(MessageKind::kCatalogPut, 1, 1, std::string(5000, 'q'), 1024);
  Inbox small({.max_frame_bytes = 1024, .max_message_bytes = 3000});
  for (const auto& f : frames) CHECK_FALSE(small.accept(kSender, f, 0));
  CHECK(small.counters().oversized == 1);
  CHECK(small.partials() == 0);

  Inbox few({.max_frame_bytes = 1024, .max_partials = 2, .partial_ttl_ms = 100});
  for (std::uint64_t id = 0; id < 5; ++id) {
    const auto fs = encode_frames(MessageKind::kCatalogPut, 1, id, std::string(5000, 'q'), 1024);
    few.accept(kSender, fs[0], id);
  }
  CHECK(few.partials() == 2);
  CHECK(few.counters().expired == 3);
  few.expire(1000);
  CHECK(few.partials() == 0);
}

TEST_CASE("body readers refuse truncation, huge counts and trailing bytes") {
  BodyWriter w;
  w.u32(0xffffffffu);  // a count no body can hold
  const std::string huge = w.take();
  BodyReader r(huge);
  CHECK_THROWS_AS(r.count(1), FrameError);
  BodyReader trailing(std::string_view("\x01\x00\x00\x00xy", 6));
  CHECK(trailing.str() == "x");
  CHECK_THROWS_AS(trailing.finish(), FrameError);
  BodyReader b(std::string_view("\x02", 1));
  CHECK_THROWS_AS(b.boolean(), FrameError);
}

// ---- messages -----------------------------------------------------------------------------------

TEST_CASE("search requests and responses round-trip, binary keys and float bits included") {
  SearchRequestMsg q;
  q.index = "idx";
  q.version = 7;
  q.fingerprint = 0xdeadbeefcafef00dull;
  q.slots = {{0, 5460}, {16383, 16383}};
  q.blob = std::string("\0\x01\x02\x03", 4);
  q.filter = "@t:{a|b}";
  q.k = 10;
  q.m = 5;
  q.ef = 64;
  q.return_fields = std::vector<std::string>{"a", "__v_score"};
  q.score_field = "__v_score";
  q.timeout_ms = 5000;
  q.mode = 1;
  q.fallback = true;
  q.tag = 77;
  const SearchRequestMsg q2 = decode_search_request(encode(q));
  CHECK(q2.mode == 1);
  CHECK(q2.fallback);
  CHECK(q2.tag == 77);
  CHECK(q2.index == q.index);
  CHECK(q2.slots == q.slots);
  CHECK(q2.blob == q.blob);
  CHECK(q2.filter == q.filter);
  CHECK(q2.k == 10);
  CHECK(q2.m == 5);
  CHECK(q2.ef == 64);
  CHECK(q2.return_fields == q.return_fields);
  CHECK_FALSE(q2.no_content);
  CHECK(q2.timeout_ms == 5000);

  SearchResponseMsg a;
  a.found = 3;
  a.tag = 5;
  a.migrating = {{{100, 120}, std::string(40, 'b')}};
  a.moved = {{{7, 7}, std::string(40, 'c')}, {{9, 11}, ""}};
  a.hits = {{std::string("k\0\xff", 3), 0.1f, {{"f", std::string("\0v", 2)}}}, {"k2", -0.0f, {}}};
  const SearchResponseMsg a2 = decode_search_response(encode(a));
  CHECK(a2.tag == 5);
  CHECK(a2.migrating == a.migrating);
  CHECK(a2.moved == a.moved);
  REQUIRE(a2.hits.size() == 2);
  CHECK(a2.hits[0].key == a.hits[0].key);
  CHECK(a2.hits[0].distance == 0.1f);
  CHECK(a2.hits[0].fields == a.hits[0].fields);
  CHECK(std::signbit(a2.hits[1].distance));
  CHECK(a2.found == 3);
}

TEST_CASE("message decoders refuse inconsistent bodies") {
  SearchRequestMsg q;
  q.k = 2;
  q.m = 3;  // more hits than k
  CHECK_THROWS_AS(decode_search_request(encode(q)), FrameError);
  SearchResponseMsg a;
  a.found = 0;
  a.hits = {{"k", 1.0f, {}}};  // more hits than found
  CHECK_THROWS_AS(decode_search_response(encode(a)), FrameError);
  SearchResponseMsg no_target;
  no_target.migrating = {{{1, 1}, ""}};  // a migrating slot must name its importing node
  CHECK_THROWS_AS(decode_search_response(encode(no_target)), FrameError);
  SearchResponseMsg short_id;
  short_id.moved = {{{1, 1}, "abc"}};
  CHECK_THROWS_AS(decode_search_response(encode(short_id)), FrameError);
  SearchResponseMsg reversed;
  reversed.moved = {{{9, 3}, ""}};
  CHECK_THROWS_AS(decode_search_response(encode(reversed)), FrameError);
  std::string bad_status = encode(SearchResponseMsg{});
  bad_status[0] = 99;
  CHECK_THROWS_AS(decode_search_response(bad_status), FrameError);
  // Every truncation of a valid body is refused.
  const std::string body = encode(InfoResponseMsg{});
  for (std::size_t n = 0; n < body.size(); ++n) CHECK_THROWS_AS(decode_info_response(body.substr(0, n)), FrameError);
}

TEST_CASE("an FT.INFO answer carries its detail when it has one, and reads an answer without it") {
  InfoResponseMsg plain;
  plain.num_docs = 7;
  plain.memory_bytes = 4096;
  const std::string plain_body = encode(plain);
  CHECK_FALSE(decode_info_response(plain_body).detail.has_value());

  InfoResponseMsg detailed = plain;
  detailed.detail = InfoDetailMsg{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, std::uint64_t{1} << 40};
  const std::string body = encode(detailed);
  CHECK(body.size() == plain_body.size() + 13 * 8);
  CHECK(body.substr(0, plain_body.size()) == plain_body);  // an older reader's body, then the detail
  const InfoResponseMsg back = decode_info_response(body);
  REQUIRE(back.detail.has_value());
  CHECK(*back.detail == *detailed.detail);
  CHECK(back.memory_bytes == 4096);
  CHECK(encode(back) == body);
  // A detail cut anywhere is refused: a shard sends all of it or none.
  for (std::size_t n = plain_body.size() + 1; n < body.size(); ++n)
    CHECK_THROWS_AS(decode_info_response(body.substr(0, n)), FrameError);
  CHECK_THROWS_AS(decode_info_response(body + std::string(1, '\0')), FrameError);
}

// ---- catalog ------------------------------------------------------------------------------------

namespace {

CatalogEntry entry(std::string name, std::uint64_t version, std::uint64_t fingerprint, std::string origin,
                   bool tombstone = false) {
  CatalogEntry e{std::move(name), version, fingerprint, std::move(origin), tombstone, {}};
  if (!tombstone) e.arguments = {"SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2"};
  return e;
}

}  // namespace

TEST_CASE("the catalog keeps the entry that supersedes: version, then fingerprint, then origin") {
  Catalog c;
  CHECK(c.merge(entry("i", 1, 5, "a")) == MergeOutcome::kApplied);
  CHECK(c.merge(entry("i", 1, 5, "a")) == MergeOutcome::kAlready);
  CHECK(c.merge(entry("i", 1, 4, "z")) == MergeOutcome::kOlder);
  CHECK(c.merge(entry("i", 1, 5, "b")) == MergeOutcome::kApplied);
  CHECK(c.merge(entry("i", 2, 0, "a", true)) == MergeOutcome::kApplied);
  CHECK(c.find("i")->tombstone);
  CHECK(c.next_version("i") == 3);
  CHECK(c.next_version("new") == 1);
  CHECK(c.merge(entry("i", 1, 99, "z")) == MergeOutcome::kOlder);  // a dropped index cannot come back
}

TEST_CASE("catalogs that merged the same entries in any order are equal, digests included") {
  std::vector<CatalogEntry> entries;
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i)
    entries.push_back(entry("idx" + std::to_string(rng() % 7), rng() % 4, rng() % 3, std::string(1, 'a' + rng() % 3),
                            rng() % 5 == 0));
  Catalog first;
  for (const auto& e : entries) first.merge(e);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(entries.begin(), entries.end(), rng);
    Catalog other;
    for (const auto& e : entries) other.merge(e);
    CHECK(other.entries() == first.entries());
    CHECK(other.digest() == first.digest());
  }
  Catalog changed = first;
  CatalogEntry e = changed.entries().begin()->second;
  e.version += 1;
  changed.merge(e);
  CHECK(changed.digest() != first.digest());
  CHECK(Catalog{}.digest() == 0);
}

TEST_CASE("fingerprints ignore spelling and see every definition change") {
  const auto spec = [](std::vector<std::string> args) { return parse_create("i", args); };
  const auto a = spec({"SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "L2"});
  const auto b = spec({"on", "hash", "schema", "v", "vector", "flat", "6", "dim", "4", "type", "float32",
                       "distance_metric", "l2"});
  const auto c = spec({"SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "5", "DISTANCE_METRIC", "L2"});
  const auto d = spec({"PREFIX", "1", "p:", "SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "4",
                       "DISTANCE_METRIC", "L2"});
  CHECK(fingerprint_of(a) == fingerprint_of(b));
  CHECK(fingerprint_of(a) != fingerprint_of(c));
  CHECK(fingerprint_of(a) != fingerprint_of(d));
  // The canonical arguments parse back to the same definition.
  const auto again = parse_create("i", canonical_arguments(d));
  CHECK(fingerprint_of(again) == fingerprint_of(d));
  CHECK(again.definition == d.definition);
}

TEST_CASE("catalog messages round-trip; a tombstone with arguments is refused") {
  CatalogPutMsg put;
  put.wants_ack = true;
  put.entries = {entry("a", 1, 2, "n1"), entry("b", 3, 0, "n2", true)};
  const CatalogPutMsg put2 = decode_catalog_put(encode(put));
  CHECK(put2.wants_ack);
  CHECK(put2.entries == put.entries);
  CatalogAckMsg ack;
  ack.items = {{"a", AckResult::kApplied, std::nullopt}, {"b", AckResult::kNewerHere, entry("b", 4, 9, "n3")}};
  const CatalogAckMsg ack2 = decode_catalog_ack(encode(ack));
  REQUIRE(ack2.items.size() == 2);
  CHECK(ack2.items[1].ours == ack.items[1].ours);
  CatalogEntry bad = entry("c", 1, 0, "n", true);
  bad.arguments = {"x"};
  put.entries = {bad};
  CHECK_THROWS_AS(decode_catalog_put(encode(put)), FrameError);
  CatalogDigestMsg digest{123, 4, 5, true};
  const CatalogDigestMsg digest2 = decode_catalog_digest(encode(digest));
  CHECK(digest2.digest == 123);
  CHECK(digest2.primary);
}

// ---- topology -----------------------------------------------------------------------------------

#include "cluster_topology.hpp"

TEST_CASE("a topology maps every slot to its shard and lists what the coordinator needs") {
  const auto node = [](std::string id, bool primary, std::string health = "online") {
    return NodeDesc{std::move(id), "127.0.0.1", 7000, primary, std::move(health)};
  };
  std::vector<ShardDesc> shards{
      {{{0, 5460}}, {node("r1", false), node("p1", true)}},
      {{{5461, 10922}}, {node("p2", true), node("r2", false)}},
      {{{10923, 16000}, {16001, 16382}}, {node("p3", true)}},
      {{}, {node("new", true)}},                 // a node added without slots
      {{}, {node("dead", true, "failed")}},      // an old primary that failed over
  };
  const Topology t = Topology::build(shards, "r2");
  CHECK(t.my_shard() == 1);
  CHECK(t.shard_of_slot(0) == 0);
  CHECK(t.shard_of_slot(10922) == 1);
  CHECK(t.shard_of_slot(16382) == 2);
  CHECK(t.shard_of_slot(16383) == -1);
  CHECK(t.uncovered() == std::vector<SlotRange>{{16383, 16383}});
  CHECK(t.serving_shards() == std::vector<int>{0, 1, 2});
  CHECK(t.shards()[0].nodes.front().id == "p1");  // primary first
  CHECK(t.shards()[2].slots == std::vector<SlotRange>{{10923, 16382}});
  std::vector<std::string> others;
  for (const NodeDesc* n : t.other_primaries()) others.push_back(n->id);
  CHECK(others == std::vector<std::string>{"p1", "p2", "p3", "new"});
  CHECK(t.shards()[1].label() == "127.0.0.1:7000 (slots 5461-10922)");
  // Slots claimed twice (a view caught mid-change) go to the first shard.
  shards[1].slots.push_back({0, 10});
  CHECK(Topology::build(shards, "x").shard_of_slot(5) == 0);
  CHECK(Topology::build(shards, "x").fingerprint() == t.fingerprint());  // the slot map is unchanged
  shards[2].slots.push_back({16383, 16383});
  CHECK(Topology::build(shards, "x").fingerprint() != t.fingerprint());
  CHECK(Topology::build(shards, "x").my_shard() == -1);
}

// ---- what a node says about itself, and which slots it answers ------------------------------------

namespace {

const std::string kA(40, 'a'), kB(40, 'b'), kC(40, 'c'), kRa(40, 'r');

// Three primaries A, B, C and a replica of A; `me` picks the myself line; `extra` goes on A's line.
std::string nodes_text(const std::string& me, const std::string& extra = "") {
  const auto line = [&](const std::string& id, const std::string& port, const std::string& role,
                        const std::string& primary, const std::string& slots) {
    return id + " 127.0.0.1:" + port + "@1" + port + (id == me ? " myself," : " ") + role + " " + primary +
           " 0 1700000000000 1 connected" + slots + "\n";
  };
  return line(kA, "7001", "master", "-", " 0-5460" + extra) + line(kB, "7002", "master", "-", " 5461-10922") +
         line(kC, "7003", "master,fail", "-", " 10923-16383") + line(kRa, "7004", "slave", kA, "");
}

}  // namespace

TEST_CASE("CLUSTER NODES: role, the shard's slots, migrating and importing slots of this node") {
  SelfView a = parse_cluster_nodes(nodes_text(kA, " [5460->-" + kB + "] [6000-<-" + kB + "]"));
  REQUIRE(a.valid);
  CHECK(a.my_id == kA);
  CHECK(a.primary);
  CHECK(a.primary_id == kA);
  CHECK(a.served.ranges() == std::vector<SlotRange>{{0, 5460}});
  CHECK(a.migrating == std::vector<std::pair<std::uint16_t, std::string>>{{5460, kB}});
  CHECK(a.importing.ranges() == std::vector<SlotRange>{{6000, 6000}});
  CHECK(a.owner_of(6000) == kB);
  CHECK(a.owner_of(16383) == kC);
  CHECK(a.nodes[2].failed);
  CHECK(a.nodes[2].address == "127.0.0.1:7003");

  SelfView r = parse_cluster_nodes(nodes_text(kRa));
  CHECK(r.valid);
  CHECK_FALSE(r.primary);
  CHECK(r.primary_id == kA);
  CHECK(r.served.ranges() == std::vector<SlotRange>{{0, 5460}});  // its primary's

  CHECK_FALSE(parse_cluster_nodes("garbage\n\n" + std::string(40, 'x') + " short line\n").valid);
  // Junk tokens are skipped, not trusted.
  SelfView junk = parse_cluster_nodes(nodes_text(kA, " 99999 [12->-] [x-<-" + kB + "] 7-3 abc"));
  CHECK(junk.served.ranges() == std::vector<SlotRange>{{0, 5460}});
  CHECK(junk.migrating.empty());
  CHECK(junk.importing.empty());
}

TEST_CASE("a primary answers what it serves, reports what it migrates, names the owner of the rest") {
  const SelfView a = parse_cluster_nodes(nodes_text(kA, " [100->-" + kB + "] [101->-" + kB + "] [6000-<-" + kB + "]"));
  SlotPlan p = plan_slots(a, {{0, 5460}}, 0, false);
  CHECK(p.answered.ranges() == std::vector<SlotRange>{{0, 5460}});
  CHECK(p.migrating == std::vector<SlotRoute>{{{100, 101}, kB}});
  CHECK(p.moved.empty());

  // A stale coordinator asked for slots that are B's and C's now.
  p = plan_slots(a, {{5000, 5470}, {16000, 16001}}, 0, false);
  CHECK(p.answered.ranges() == std::vector<SlotRange>{{5000, 5460}});
  CHECK(p.moved == std::vector<SlotRoute>{{{5461, 5470}, kB}, {{16000, 16001}, kC}});

  // Importing slots are answered in the follow-up (mode 1) only.
  CHECK(plan_slots(a, {{6000, 6000}}, 0, false).moved == std::vector<SlotRoute>{{{6000, 6000}, kB}});
  p = plan_slots(a, {{6000, 6000}}, 1, false);
  CHECK(p.answered.ranges() == std::vector<SlotRange>{{6000, 6000}});
  CHECK(p.moved.empty());
  CHECK(p.migrating.empty());

  // A slot nobody serves is named with no node.
  const SelfView gap = parse_cluster_nodes(nodes_text(kA).replace(nodes_text(kA).find(" 5461-10922"), 11, " 5461-10000"));
  CHECK(plan_slots(gap, {{10001, 10001}}, 0, false).moved == std::vector<SlotRoute>{{{10001, 10001}, ""}});
}

TEST_CASE("a replica answers its primary's slots only as a stand-in, and otherwise names its primary") {
  const SelfView r = parse_cluster_nodes(nodes_text(kRa));
  SlotPlan p = plan_slots(r, {{0, 5460}}, 0, false);
  CHECK(p.answered.empty());
  CHECK(p.moved == std::vector<SlotRoute>{{{0, 5460}, kA}});
  p = plan_slots(r, {{0, 5460}}, 0, true);
  CHECK(p.answered.ranges() == std::vector<SlotRange>{{0, 5460}});
  CHECK(p.migrating.empty());  // a replica cannot see its primary's migrations
  CHECK(p.moved.empty());
  p = plan_slots(r, {{5460, 5461}}, 0, true);
  CHECK(p.answered.ranges() == std::vector<SlotRange>{{5460, 5460}});
  CHECK(p.moved == std::vector<SlotRoute>{{{5461, 5461}, kB}});
}

TEST_CASE("routes group adjacent slots going to the same node") {
  CHECK(make_routes({{1, "x"}, {2, "x"}, {3, "y"}, {5, "y"}, {6, "y"}}) ==
        std::vector<SlotRoute>{{{1, 2}, "x"}, {{3, 3}, "y"}, {{5, 6}, "y"}});
  CHECK(make_routes({}).empty());
  CHECK(slots_of({{{1, 2}, "x"}, {{5, 5}, ""}}).ranges() == std::vector<SlotRange>{{1, 2}, {5, 5}});
}

namespace {

// A transport whose links are up or down by node, recording what it delivered.
struct FakeTransport final : Transport {
  std::vector<std::string> down;
  std::vector<std::pair<std::string, std::uint64_t>> delivered;  // (node, request id)
  bool send(rm::Ctx*, std::string_view node, MessageKind, std::uint64_t, std::uint64_t request_id,
            std::string_view) override {
    if (std::find(down.begin(), down.end(), node) != down.end()) return false;
    delivered.emplace_back(std::string(node), request_id);
    return true;
  }
  void broadcast(rm::Ctx*, MessageKind, std::uint64_t, std::uint64_t, std::string_view) override {}
};

}  // namespace

TEST_CASE("an answer the bus cannot take is sent again until its deadline, within bounds") {
  FakeTransport bus;
  AnswerRetry retry;
  // Link up: sent at once, nothing held.
  CHECK(retry.send_or_hold(nullptr, bus, "a", MessageKind::kSearchResponse, 1, 10, "x", 0, 100));
  CHECK(retry.size() == 0);
  // Link to b down: held, then delivered once it is back, in order, with its request id.
  bus.down = {"b"};
  CHECK_FALSE(retry.send_or_hold(nullptr, bus, "b", MessageKind::kSearchResponse, 1, 11, "yy", 0, 100));
  CHECK_FALSE(retry.send_or_hold(nullptr, bus, "b", MessageKind::kInfoResponse, 1, 12, "zzz", 0, 100));
  CHECK(retry.size() == 2);
  CHECK(retry.bytes() == 5);
  retry.retry(nullptr, bus, 50);  // still down
  CHECK(retry.size() == 2);
  bus.down.clear();
  retry.retry(nullptr, bus, 60);
  CHECK(retry.size() == 0);
  CHECK(retry.bytes() == 0);
  REQUIRE(bus.delivered.size() == 3);
  CHECK(bus.delivered[1] == std::pair<std::string, std::uint64_t>{"b", 11});
  CHECK(bus.delivered[2] == std::pair<std::string, std::uint64_t>{"b", 12});
  CHECK(retry.counters().held == 2);
  CHECK(retry.counters().resent == 2);
  // Past its deadline an answer is dropped, not sent late (the coordinator stopped waiting).
  bus.down = {"c"};
  CHECK_FALSE(retry.send_or_hold(nullptr, bus, "c", MessageKind::kSearchResponse, 1, 13, "w", 100, 200));
  CHECK_FALSE(retry.send_or_hold(nullptr, bus, "c", MessageKind::kSearchResponse, 1, 14, "w", 100, 300));
  bus.down.clear();
  retry.retry(nullptr, bus, 200);
  CHECK(retry.counters().expired == 1);
  REQUIRE(bus.delivered.size() == 4);
  CHECK(bus.delivered[3].second == 14);
  bus.down = {"c"};
  CHECK_FALSE(retry.send_or_hold(nullptr, bus, "c", MessageKind::kSearchResponse, 1, 15, "w", 300, 300));
  CHECK(retry.counters().expired == 2);  // already due: not held at all
  CHECK(retry.size() == 0);
  // Bounds: at most kMaxAnswers answers (the oldest go first) and kMaxBytes bytes.
  for (std::uint64_t id = 100; id < 100 + AnswerRetry::kMaxAnswers + 3; ++id)
    retry.send_or_hold(nullptr, bus, "c", MessageKind::kSearchResponse, 1, id, "v", 400, 1000);
  CHECK(retry.size() == AnswerRetry::kMaxAnswers);
  CHECK(retry.counters().dropped == 3);
  CHECK_FALSE(retry.send_or_hold(nullptr, bus, "c", MessageKind::kSearchResponse, 1, 999,
                                 std::string(AnswerRetry::kMaxBytes + 1, 'x'), 400, 1000));
  CHECK(retry.counters().dropped == 4);
  retry.send_or_hold(nullptr, bus, "c", MessageKind::kSearchResponse, 1, 998, std::string(AnswerRetry::kMaxBytes - 10, 'x'),
                     400, 1000);
  CHECK(retry.bytes() <= AnswerRetry::kMaxBytes);
  CHECK(retry.size() == 11);  // the big one and the ten small ones that still fit beside it
  bus.down.clear();
  retry.retry(nullptr, bus, 500);
  CHECK(bus.delivered.back().second == 998);
  CHECK(bus.delivered[bus.delivered.size() - 2].second == 100 + AnswerRetry::kMaxAnswers + 2);
}

