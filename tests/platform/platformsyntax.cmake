# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# Compiles the platform core for a platform this machine cannot run, with
# clang's -fsyntax-only and warnings as errors, against the stand-in system
# headers in stubs/ (see stubs/README.md). Run by ctest (CMakeLists.txt next
# to this file):
#
#   cmake -DCLANG=<clang++> -DTARGET=<triple> -DSTUBS=<dir>|<dir>...
#         -DSOURCE_DIR=<source tree> -DSOURCES=<file>|<file>... [-DFLAGS=<flag>|...]
#         -P platformsyntax.cmake
#
# The C++ standard library is the host's libstdc++ (the newest under
# /usr/include/c++), with glibc's generic POSIX headers behind the stubs.
# Without clang or libstdc++ it skips (exit code 77), except under CI=true.

cmake_minimum_required(VERSION 3.21)

foreach(variable TARGET STUBS SOURCE_DIR SOURCES)
    if(NOT ${variable})
        message(FATAL_ERROR "platformsyntax.cmake: -D${variable}=... is required")
    endif()
endforeach()

function(skip_or_fail message)
    if("$ENV{CI}" STREQUAL "true")
        message(FATAL_ERROR "FAILED (CI=true, no skipping): ${message}")
    endif()
    message("SKIP ${message}")
    cmake_language(EXIT 77)
endfunction()

if(NOT CLANG OR NOT EXISTS "${CLANG}")
    skip_or_fail("clang++ not found (Debian: clang)")
endif()

# libstdc++: the newest version directory that has its multiarch part too.
execute_process(COMMAND gcc -print-multiarch OUTPUT_VARIABLE multiarch
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT multiarch)
    set(multiarch x86_64-linux-gnu)
endif()
file(GLOB versions LIST_DIRECTORIES true RELATIVE /usr/include/c++ /usr/include/c++/*)
list(SORT versions COMPARE NATURAL ORDER DESCENDING)
set(libstdcxx)
foreach(version IN LISTS versions)
    if(EXISTS "/usr/include/c++/${version}/chrono"
       AND EXISTS "/usr/include/${multiarch}/c++/${version}/bits/c++config.h")
        set(libstdcxx "/usr/include/c++/${version}" "/usr/include/${multiarch}/c++/${version}")
        break()
    endif()
endforeach()
if(NOT libstdcxx)
    skip_or_fail("no libstdc++ headers under /usr/include/c++")
endif()

string(REPLACE "|" ";" stubs "${STUBS}")
string(REPLACE "|" ";" sources "${SOURCES}")
string(REPLACE "|" ";" flags "${FLAGS}")
set(includes)
foreach(directory IN LISTS stubs libstdcxx)
    list(APPEND includes -isystem "${directory}")
endforeach()
# glibc's bits/ headers, reached through the generic POSIX headers.
list(APPEND includes -isystem "/usr/include/${multiarch}")

set(command
    "${CLANG}" "--target=${TARGET}" -std=c++17 -fsyntax-only -Wall -Wextra -Wpedantic -Werror
    # libstdc++ and glibc expect the GNU dialect the host compiler defines.
    -D_GNU_SOURCE -nostdinc++ ${flags} "-I${SOURCE_DIR}/src/platform" ${includes} ${sources}
)
string(REPLACE ";" " " shown "${command}")
message(STATUS "==> ${shown}")
execute_process(COMMAND ${command} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "FAILED (${result}): the platform core does not compile for ${TARGET}")
endif()
message(STATUS "OK: the platform core compiles for ${TARGET}")
