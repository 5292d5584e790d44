# Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#
# Compiles the platform core alone, without Qt, with warnings as errors, and
# links platformcore-consumer/main.cpp against it. Run by ctest (see
# CMakeLists.txt next to this file):
#
#   cmake -DCOMPILER=<c++ compiler> -DSOURCE_DIR=<source tree> -DWORK_DIR=<scratch dir>
#         -DSOURCES=<file>|<file>... [-DLIBRARIES=<lib>|...] [-DRUN=ON]
#         -P platformcore.cmake
#
# SOURCES are the core's .cpp files for one platform; with RUN the consumer
# runs too and must print "OK". Nothing but the compiler's own include path
# and src/ is searched: a Qt header anywhere in the core fails the build.

cmake_minimum_required(VERSION 3.21)

foreach(variable COMPILER SOURCE_DIR WORK_DIR SOURCES)
    if(NOT ${variable})
        message(FATAL_ERROR "platformcore.cmake: -D${variable}=... is required")
    endif()
endforeach()

string(REPLACE "|" ";" sources "${SOURCES}")
string(REPLACE "|" ";" libraries "${LIBRARIES}")
list(TRANSFORM libraries PREPEND "-l")

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(program "${WORK_DIR}/platformcore-consumer")

set(command
    "${COMPILER}" -std=c++17 -Wall -Wextra -Wpedantic -Werror "-I${SOURCE_DIR}/src/platform" ${sources}
    "${SOURCE_DIR}/tests/auto/packaging/platformcore-consumer/main.cpp" -o "${program}"
    ${libraries}
)
string(REPLACE ";" " " shown "${command}")
message(STATUS "==> ${shown}")
execute_process(COMMAND ${command} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "FAILED (${result}): the platform core does not build without Qt")
endif()

if(RUN)
    execute_process(COMMAND "${program}" RESULT_VARIABLE result OUTPUT_VARIABLE output)
    message(STATUS "${output}")
    if(NOT result EQUAL 0 OR NOT output MATCHES "(^|\n)OK\n")
        message(FATAL_ERROR "FAILED (${result}): ${program}")
    endif()
endif()
