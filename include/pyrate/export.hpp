// PYRATE_EXPORT: marks what libpyrate.so exports.
//
// The library is compiled with -fvisibility=hidden and -fvisibility-inlines-hidden, so only the
// classes and functions marked PYRATE_EXPORT are part of its dynamic symbol table: the public
// API of include/pyrate/, with the vtables and type information of its classes (so that a
// program can derive from them, and catch pyrate's exceptions by type). Everything under src/
// stays internal. For a static library the mark changes nothing.
//
// Mark every class and every non-inline, non-template function of the public headers:
//   class PYRATE_EXPORT Limiter { ... };
//   PYRATE_EXPORT bool validate_rate_list(const std::vector<Rate>& rates);
// PYRATE_NO_EXPORT keeps a member of an exported class out of the table: one that only the
// library can call, because it takes an internal type.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define PYRATE_EXPORT __attribute__((visibility("default")))
#define PYRATE_NO_EXPORT __attribute__((visibility("hidden")))
#else
#define PYRATE_EXPORT
#define PYRATE_NO_EXPORT
#endif
