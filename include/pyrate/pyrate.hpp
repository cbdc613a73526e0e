// pyrate: rate limiting with the bucket model of PyrateLimiter, persistent and multi-process.
#pragma once

#include "pyrate/acquire_listener.hpp"
#include "pyrate/bucket.hpp"
#include "pyrate/bucket_factory.hpp"
#include "pyrate/clock.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/errors.hpp"
#include "pyrate/in_memory_bucket.hpp"
#include "pyrate/interprocess_lock.hpp"
#include "pyrate/leaker.hpp"
#include "pyrate/limiter.hpp"
#include "pyrate/limiter_lock.hpp"
#include "pyrate/per_name_bucket_factory.hpp"
#include "pyrate/rate.hpp"
#include "pyrate/sqlite_bucket.hpp"
#include "pyrate/stored_bucket.hpp"
#include "pyrate/version.hpp"
