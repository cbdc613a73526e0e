// placeholder until issue 3
#include "pyrate/sqlite_bucket.hpp"
#include <stdexcept>
namespace pyrate {
struct SQLiteBucket::Impl {};
SQLiteBucket::SQLiteBucket(std::vector<Rate> rates, SQLiteOptions) : AbstractBucket(std::move(rates)) { throw std::logic_error("todo"); }
SQLiteBucket::~SQLiteBucket() = default;
bool SQLiteBucket::put(const RateItem&) { return false; }
std::int64_t SQLiteBucket::leak(std::optional<Millis>) { return 0; }
void SQLiteBucket::flush() {}
std::int64_t SQLiteBucket::count() { return 0; }
std::optional<RateItem> SQLiteBucket::peek(std::int64_t) { return {}; }
LimiterLock* SQLiteBucket::limiter_lock() { return nullptr; }
void SQLiteBucket::close() {}
}
