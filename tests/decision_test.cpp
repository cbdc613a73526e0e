// The decision core: every field of a Decision, computed by both built-in buckets.
#include <catch2/catch.hpp>
#include <pyrate/pyrate.hpp>
