# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# QtKeepAlive for qmake projects: compiles the library into the including
# project.
#
#   include(path/to/qt_keepalive.pri)
#
# then #include <KeepAliveSocket> (or "keepalivesocket.h").

QT *= core network
CONFIG *= c++17

# Sources are compiled into the application: no import/export declarations.
DEFINES *= QTKEEPALIVE_STATIC

# One folder per concern; files include each other by name.
QTKEEPALIVE_SOURCE_DIRS = $$PWD/src $$PWD/src/options $$PWD/src/socket $$PWD/src/server \
    $$PWD/src/engine $$PWD/src/qtseam $$PWD/src/heartbeat $$PWD/src/scheduling $$PWD/src/platform
INCLUDEPATH += $$QTKEEPALIVE_SOURCE_DIRS

# qtkeepalive_version.h, from the same template and VERSION file as CMake's.
QTKEEPALIVE_VERSION = $$cat($$PWD/VERSION)
QTKEEPALIVE_VERSION_PARTS = $$split(QTKEEPALIVE_VERSION, .)
QTKEEPALIVE_VERSION_HEADER = $$cat($$PWD/src/qtkeepalive_version.h.in, blob)
QTKEEPALIVE_VERSION_HEADER ~= s/@PROJECT_VERSION_MAJOR@/$$member(QTKEEPALIVE_VERSION_PARTS, 0)/g
QTKEEPALIVE_VERSION_HEADER ~= s/@PROJECT_VERSION_MINOR@/$$member(QTKEEPALIVE_VERSION_PARTS, 1)/g
QTKEEPALIVE_VERSION_HEADER ~= s/@PROJECT_VERSION_PATCH@/$$member(QTKEEPALIVE_VERSION_PARTS, 2)/g
QTKEEPALIVE_VERSION_HEADER ~= s/@PROJECT_VERSION@/$$QTKEEPALIVE_VERSION/g
!write_file($$OUT_PWD/qtkeepalive_version.h, QTKEEPALIVE_VERSION_HEADER): \
    error("qt_keepalive.pri: cannot write $$OUT_PWD/qtkeepalive_version.h")
INCLUDEPATH += $$OUT_PWD
DEPENDPATH += $$QTKEEPALIVE_SOURCE_DIRS

HEADERS += \
    $$PWD/src/qtkeepalive_global.h \
    $$PWD/src/options/keepaliveoptions.h \
    $$PWD/src/options/effectivekeepaliveoptions.h \
    $$PWD/src/options/keepaliveformat_p.h \
    $$PWD/src/socket/keepalivesocket.h \
    $$PWD/src/socket/keepalivesslsocket.h \
    $$PWD/src/server/keepaliveserver.h \
    $$PWD/src/server/keepalivesslserver.h \
    $$PWD/src/server/servercore_p.h \
    $$PWD/src/options/connectionhealth.h \
    $$PWD/src/heartbeat/keepaliveheartbeat.h \
    $$PWD/src/heartbeat/keepaliveheartbeat_p.h \
    $$PWD/src/scheduling/threadscheduler_p.h \
    $$PWD/src/scheduling/deadlineset_p.h \
    $$PWD/src/qtkeepalive.h \
    $$PWD/src/engine/keepaliveengine_p.h \
    $$PWD/src/keepalivelogging_p.h \
    $$PWD/src/engine/deathclassification_p.h \
    $$PWD/src/qtseam/notifierinspector_p.h \
    $$PWD/src/engine/stallguard_p.h \
    $$PWD/src/scheduling/coarseclock_p.h \
    $$PWD/src/engine/heapoptional_p.h \
    $$PWD/src/scheduling/timeoutqueue_p.h \
    $$PWD/src/qtseam/nativetransport_p.h \
    $$PWD/src/qtseam/qtinternals_p.h \
    $$PWD/src/qtseam/qterrors_p.h \
    $$PWD/src/platform/keepaliveplatform_p.h \
    $$PWD/src/platform/keepaliveplatformcore_p.h

SOURCES += \
    $$PWD/src/options/keepaliveoptions.cpp \
    $$PWD/src/options/effectivekeepaliveoptions.cpp \
    $$PWD/src/socket/keepalivesocket.cpp \
    $$PWD/src/socket/keepalivesslsocket.cpp \
    $$PWD/src/server/keepaliveserver.cpp \
    $$PWD/src/server/keepalivesslserver.cpp \
    $$PWD/src/server/servercore.cpp \
    $$PWD/src/engine/keepaliveengine.cpp \
    $$PWD/src/engine/deathclassification.cpp \
    $$PWD/src/qtseam/notifierinspector.cpp \
    $$PWD/src/engine/stallguard.cpp \
    $$PWD/src/qtseam/nativetransport.cpp \
    $$PWD/src/qtseam/qtinternals.cpp \
    $$PWD/src/qtseam/qterrors.cpp \
    $$PWD/src/options/connectionhealth.cpp \
    $$PWD/src/heartbeat/keepaliveheartbeat.cpp \
    $$PWD/src/scheduling/threadscheduler.cpp \
    $$PWD/src/platform/keepaliveplatform.cpp \
    $$PWD/src/platform/keepaliveplatformcore.cpp \
    $$PWD/src/platform/keepaliveplatformcore_windows.cpp

# The platform core (plain C++, no Qt): keepaliveplatformcore*.cpp above and
# one file per platform family; POSIX systems other than Linux, Android, macOS,
# iOS and FreeBSD get SO_KEEPALIVE only (see supportedFields()).
win32 {
    SOURCES += $$PWD/src/platform/keepaliveplatform_win.cpp
    LIBS += -lws2_32
} else: macx|ios|freebsd {
    HEADERS += $$PWD/src/platform/keepaliveplatform_posix_p.h
    SOURCES += $$PWD/src/platform/keepaliveplatform_bsd.cpp $$PWD/src/platform/keepaliveplatform_posix.cpp
} else: linux|android {
    HEADERS += $$PWD/src/platform/keepaliveplatform_posix_p.h
    SOURCES += $$PWD/src/platform/keepaliveplatform_linux.cpp $$PWD/src/platform/keepaliveplatform_posix.cpp
} else {
    HEADERS += $$PWD/src/platform/keepaliveplatform_posix_p.h
    SOURCES += $$PWD/src/platform/keepaliveplatform_other.cpp $$PWD/src/platform/keepaliveplatform_posix.cpp
}
