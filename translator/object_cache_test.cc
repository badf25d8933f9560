#include "translator/object_cache.h"

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "gtest/gtest.h"

namespace zeoraid::translator {
namespace {

// What a backend answers: the revisions of each oid, by tid.
class History {
 public:
  struct Answer {
    bool found = false;
    std::string data;
    uint64_t start = 0;
    uint64_t end = 0;  // 0: current
  };
  void Commit(uint64_t tid, const std::string& oid, std::string data) {
    revisions_[oid][tid] = std::move(data);
  }
  // loadBefore(oid, before) as a backend at `snapshot` answers it.
  Answer LoadBefore(const std::string& oid, uint64_t before,
                    uint64_t snapshot) const {
    Answer a;
    auto it = revisions_.find(oid);
    if (it == revisions_.end()) return a;
    const auto& revs = it->second;
    for (auto r = revs.rbegin(); r != revs.rend(); ++r) {
      if (r->first > snapshot || r->first >= before) continue;
      a.found = true;
      a.data = r->second;
      a.start = r->first;
      auto next = revs.upper_bound(r->first);
      if (next != revs.end() && next->first <= snapshot) a.end = next->first;
      return a;
    }
    return a;
  }

 private:
  std::map<std::string, std::map<uint64_t, std::string>> revisions_;
};

class ObjectCacheTest : public ::testing::Test {
 protected:
  ObjectCacheTest() : recent_(/*capacity=*/64), cache_(1 << 20, &recent_) {
    recent_.Reset(10);
    cache_.Reset(10);
  }
  void Commit(uint64_t tid, std::vector<std::string> oids) {
    recent_.Add(tid, oids);
    cache_.Invalidate(tid, oids);
  }

  RecentChanges recent_;
  ObjectCache cache_;
};

TEST_F(ObjectCacheTest, CurrentRevisionServesSnapshotsUpToTheLastTid) {
  cache_.StoreLoaded("a", "a5", 5, 0, 10);
  auto hit = cache_.LoadBefore("a", 11);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit->data, "a5");
  EXPECT_EQ(hit->start, 5u);
  EXPECT_EQ(hit->end, 0u);
  EXPECT_EQ(hit->snapshot, 10u);
  EXPECT_TRUE(cache_.LoadBefore("a", 6).has_value());
  // Before the revision began: the cache cannot know what came earlier.
  EXPECT_FALSE(cache_.LoadBefore("a", 5).has_value());
  // A snapshot after what the cache has seen may hold a newer revision.
  EXPECT_FALSE(cache_.LoadBefore("a", 12).has_value());
  EXPECT_EQ(cache_.stats().hits, 2u);
  EXPECT_EQ(cache_.stats().misses, 2u);
}

TEST_F(ObjectCacheTest, InvalidationEndsTheCurrentRevision) {
  cache_.StoreLoaded("a", "a5", 5, 0, 10);
  Commit(12, {"a"});
  auto old = cache_.LoadBefore("a", 12);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(*old->data, "a5");
  EXPECT_EQ(old->end, 12u);
  // The new revision is not known: a miss, never the old data as current.
  EXPECT_FALSE(cache_.LoadBefore("a", 13).has_value());
  cache_.StoreCommitted(12, {{"a", "a12"}});
  auto now = cache_.LoadBefore("a", 13);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(*now->data, "a12");
  EXPECT_EQ(now->end, 0u);
}

TEST_F(ObjectCacheTest, CommittedRecordsAreKeptOnlyAtTheLastTid) {
  Commit(12, {"a"});
  Commit(13, {"b"});
  cache_.StoreCommitted(12, {{"a", "a12"}});  // 13 may have changed it again
  EXPECT_FALSE(cache_.LoadBefore("a", 14).has_value());
}

TEST_F(ObjectCacheTest, CurrentAnswerReadAtAnOlderSnapshot) {
  Commit(12, {"b"});
  Commit(13, {"a"});
  // Read at 11: "a" changed at 13 since, so its answer is stale.
  cache_.StoreLoaded("a", "a5", 5, 0, 11);
  EXPECT_FALSE(cache_.LoadBefore("a", 14).has_value());
  // "b" is unchanged since 12.
  cache_.StoreLoaded("b", "b12", 12, 0, 12);
  EXPECT_TRUE(cache_.LoadBefore("b", 14).has_value());
  // Read at a snapshot the cache has not applied yet: not kept.
  cache_.StoreLoaded("c", "c14", 14, 0, 14);
  EXPECT_FALSE(cache_.LoadBefore("c", 14).has_value());
}

TEST_F(ObjectCacheTest, ResetForgetsAndDisableTurnsItOff) {
  cache_.StoreLoaded("a", "a5", 5, 0, 10);
  cache_.Disable();
  EXPECT_FALSE(cache_.LoadBefore("a", 6).has_value());
  cache_.StoreLoaded("a", "a5", 5, 0, 10);
  EXPECT_FALSE(cache_.LoadBefore("a", 6).has_value());
  cache_.Reset(10);
  cache_.StoreLoaded("a", "a5", 5, 0, 10);
  Commit(11, {"x"});
  cache_.Reset(20);
  EXPECT_FALSE(cache_.LoadBefore("a", 6).has_value());
  EXPECT_EQ(cache_.stats().records, 0u);
  EXPECT_EQ(cache_.stats().bytes, 0u);
}

TEST(ObjectCacheEmptyStorageTest, WorksFromTidZero) {
  // A new database: the invalidation stream starts at z64.
  RecentChanges recent(16);
  recent.Reset(0);
  ObjectCache cache(1 << 20, &recent);
  cache.Reset(0);
  recent.Add(1, {"a"});
  cache.Invalidate(1, {"a"});
  cache.StoreCommitted(1, {{"a", "a1"}});
  ASSERT_TRUE(cache.LoadBefore("a", 2).has_value());
}

TEST(ObjectCacheBudgetTest, EvictsLeastRecentlyUsedWithinTheByteBudget) {
  RecentChanges recent(16);
  recent.Reset(10);
  ObjectCache cache(/*max_bytes=*/3 * (1000 + 8 + 96), &recent);
  cache.Reset(10);
  const std::string kilo(1000, 'x');
  for (const char* oid : {"oid00001", "oid00002", "oid00003"}) {
    cache.StoreLoaded(oid, kilo, 5, 0, 10);
  }
  EXPECT_TRUE(cache.LoadBefore("oid00001", 11).has_value());  // now newest
  cache.StoreLoaded("oid00004", kilo, 5, 0, 10);
  EXPECT_FALSE(cache.LoadBefore("oid00002", 11).has_value());
  EXPECT_TRUE(cache.LoadBefore("oid00001", 11).has_value());
  EXPECT_TRUE(cache.LoadBefore("oid00004", 11).has_value());
  ObjectCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.records, 3u);
  EXPECT_LE(stats.bytes, 3u * (1000 + 8 + 96));
  ObjectCache off(0, &recent);
  off.Reset(10);
  off.StoreLoaded("a", "a5", 5, 0, 10);
  EXPECT_FALSE(off.LoadBefore("a", 11).has_value());
}

// Random commits, and loads at random snapshots read "from a backend" at a
// snapshot that lags the cache: every hit equals the backend's answer at the
// cache's snapshot.
TEST(ObjectCacheModelTest, HitsAlwaysMatchTheBackend) {
  std::mt19937 rng(7);
  RecentChanges recent(8);
  ObjectCache cache(/*max_bytes=*/4000, &recent);
  History history;
  uint64_t last = 100;
  recent.Reset(last);
  cache.Reset(last);
  auto oid_name = [](int i) { return "oid" + std::to_string(i); };
  int hits = 0;
  for (int step = 0; step < 20000; ++step) {
    int what = rng() % 10;
    if (what < 3) {
      uint64_t tid = ++last;
      std::vector<std::string> oids;
      std::vector<std::pair<std::string, std::string>> records;
      for (int n = 1 + rng() % 3; n > 0; --n) {
        std::string oid = oid_name(rng() % 20);
        std::string data = oid + "@" + std::to_string(tid);
        history.Commit(tid, oid, data);
        oids.push_back(oid);
        records.emplace_back(oid, data);
      }
      recent.Add(tid, oids);
      cache.Invalidate(tid, oids);
      if (rng() % 2) cache.StoreCommitted(tid, records);
      continue;
    }
    std::string oid = oid_name(rng() % 20);
    // Mostly the newest snapshot, as clients that keep up ask.
    uint64_t before = rng() % 2 ? last + 1 : 90 + rng() % (last - 88);
    auto hit = cache.LoadBefore(oid, before);
    if (hit.has_value()) {
      ++hits;
      History::Answer want = history.LoadBefore(oid, before, hit->snapshot);
      ASSERT_TRUE(want.found) << oid << " before " << before;
      ASSERT_EQ(*hit->data, want.data) << oid << " before " << before;
      ASSERT_EQ(hit->start, want.start);
      ASSERT_EQ(hit->end, want.end) << oid << " before " << before;
      continue;
    }
    // A miss: the read reaches a backend at a snapshot up to 3 behind.
    uint64_t snapshot = last - std::min<uint64_t>(rng() % 4, last - 100);
    History::Answer got =
        history.LoadBefore(oid, std::min(before, snapshot + 1), snapshot);
    if (got.found)
      cache.StoreLoaded(oid, got.data, got.start, got.end, snapshot);
  }
  EXPECT_GT(hits, 1000);
}

// Loads, stores and invalidations from several threads (run under TSan).
TEST(ObjectCacheConcurrencyTest, ThreadsShareOneCache) {
  RecentChanges recent(64);
  ObjectCache cache(1 << 16, &recent);
  recent.Reset(1);
  cache.Reset(1);
  std::atomic<uint64_t> last{1};
  std::atomic<bool> done{false};
  std::thread committer([&] {
    for (uint64_t tid = 2; tid < 2000; ++tid) {
      std::vector<std::string> oids = {"oid" + std::to_string(tid % 50)};
      recent.Add(tid, oids);
      cache.Invalidate(tid, oids);
      cache.StoreCommitted(tid, {{oids[0], std::to_string(tid)}});
      last = tid;
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      // Until the committer is done, then two more passes over the oids
      // (each has been committed by then: those loads hit).
      for (int i = 0, after = 0; after < 100; ++i) {
        if (done.load()) ++after;
        std::string oid = "oid" + std::to_string((i + r) % 50);
        uint64_t at = last.load();
        auto hit = cache.LoadBefore(oid, at + 1);
        if (hit.has_value()) {
          EXPECT_LE(hit->start, at);
          EXPECT_EQ(*hit->data, std::to_string(hit->start));
        }
      }
    });
  }
  committer.join();
  for (std::thread& t : readers) t.join();
  EXPECT_GT(cache.stats().hits, 0u);
}

}  // namespace
}  // namespace zeoraid::translator
