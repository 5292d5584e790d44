// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: what the POSIX platform files (Linux, macOS, FreeBSD) share;
// defined in keepaliveplatform_posix.cpp. Not installed.

#include "keepaliveplatformcore_p.h"

namespace KeepAliveCore::Posix {

//! The running platform's limits, computed once (keepaliveplatform_linux.cpp, _bsd.cpp).
Limits limits();
//! A non-blocking poll() for input: the revents, 0 when nothing is pending or on failure.
short pollNow(NativeHandle handle);

} // namespace KeepAliveCore::Posix
