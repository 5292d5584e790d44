// Stand-in: FreeBSD sys/sys/sysctl.h, the one declaration the platform core uses.
#pragma once

#include <cstddef>

extern "C" int sysctlbyname(const char *name, void *oldp, std::size_t *oldlenp, const void *newp,
                            std::size_t newlen);
