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

INCLUDEPATH += $$PWD/src

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
DEPENDPATH += $$PWD/src

HEADERS += \
    $$PWD/src/qtkeepalive_global.h \
    $$PWD/src/keepaliveoptions.h \
    $$PWD/src/effectivekeepaliveoptions.h \
    $$PWD/src/keepaliveformat_p.h \
    $$PWD/src/keepalivesocket.h \
    $$PWD/src/keepalivesslsocket.h \
    $$PWD/src/keepaliveserver.h \
    $$PWD/src/keepalivesslserver.h \
    $$PWD/src/servercore_p.h \
    $$PWD/src/connectionhealth.h \
    $$PWD/src/keepaliveheartbeat.h \
    $$PWD/src/keepaliveheartbeat_p.h \
    $$PWD/src/threadscheduler_p.h \
    $$PWD/src/deadlineset_p.h \
    $$PWD/src/qtkeepalive.h \
    $$PWD/src/keepaliveengine_p.h \
    $$PWD/src/keepalivelogging_p.h \
    $$PWD/src/deathclassification_p.h \
    $$PWD/src/notifierinspector_p.h \
    $$PWD/src/stallguard_p.h \
    $$PWD/src/coarseclock_p.h \
    $$PWD/src/heapoptional_p.h \
    $$PWD/src/timeoutqueue_p.h \
    $$PWD/src/nativetransport_p.h \
    $$PWD/src/qtinternals_p.h \
    $$PWD/src/keepaliveplatform_p.h \
    $$PWD/src/keepaliveplatformcore_p.h

SOURCES += \
    $$PWD/src/keepaliveoptions.cpp \
    $$PWD/src/effectivekeepaliveoptions.cpp \
    $$PWD/src/keepalivesocket.cpp \
    $$PWD/src/keepalivesslsocket.cpp \
    $$PWD/src/keepaliveserver.cpp \
    $$PWD/src/keepalivesslserver.cpp \
    $$PWD/src/servercore.cpp \
    $$PWD/src/keepaliveengine.cpp \
    $$PWD/src/deathclassification.cpp \
    $$PWD/src/notifierinspector.cpp \
    $$PWD/src/stallguard.cpp \
    $$PWD/src/nativetransport.cpp \
    $$PWD/src/qtinternals.cpp \
    $$PWD/src/connectionhealth.cpp \
    $$PWD/src/keepaliveheartbeat.cpp \
    $$PWD/src/threadscheduler.cpp \
    $$PWD/src/keepaliveplatform.cpp \
    $$PWD/src/keepaliveplatformcore.cpp \
    $$PWD/src/keepaliveplatformcore_windows.cpp

# The platform core (plain C++, no Qt): keepaliveplatformcore*.cpp above and
# one file per platform family; POSIX systems other than Linux, Android, macOS,
# iOS and FreeBSD get SO_KEEPALIVE only (see supportedFields()).
win32 {
    SOURCES += $$PWD/src/keepaliveplatform_win.cpp
    LIBS += -lws2_32
} else: macx|ios|freebsd {
    HEADERS += $$PWD/src/keepaliveplatform_posix_p.h
    SOURCES += $$PWD/src/keepaliveplatform_bsd.cpp $$PWD/src/keepaliveplatform_posix.cpp
} else: linux|android {
    HEADERS += $$PWD/src/keepaliveplatform_posix_p.h
    SOURCES += $$PWD/src/keepaliveplatform_linux.cpp $$PWD/src/keepaliveplatform_posix.cpp
} else {
    HEADERS += $$PWD/src/keepaliveplatform_posix_p.h
    SOURCES += $$PWD/src/keepaliveplatform_other.cpp $$PWD/src/keepaliveplatform_posix.cpp
}
