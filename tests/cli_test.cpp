#include <catch2/catch.hpp>
#include <pyrate/pyrate.hpp>
