// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: what the POSIX platform files (Linux, macOS, FreeBSD, the
// others) share; defined in keepaliveplatform_posix.cpp unless noted. Not
// installed.

#include "keepaliveplatformcore_p.h"

namespace KeepAliveCore::Posix {

//! The running platform's limits, computed once (keepaliveplatform_linux.cpp, _bsd.cpp, _other.cpp).
Limits limits();
#if defined(__FreeBSD__)
//! FreeBSD 14.0+: the kernel accepts TCP_MAXUNACKTIME (probed once; keepaliveplatform_bsd.cpp).
bool hasMaxUnackTime();
#endif
//! A non-blocking poll() for input: the revents, 0 when nothing is pending or on failure.
short pollNow(NativeHandle handle);

} // namespace KeepAliveCore::Posix
