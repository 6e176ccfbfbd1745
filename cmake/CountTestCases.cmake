# cmake -DPROGRAM=<Catch2 v2 test program> -DFILES=,<file>,<file>... -P CountTestCases.cmake (the names of its
# *_test.cpp files, without the extension)
# Fails unless the test cases selected file by file ([#<file>]~[.], Catch2's filenames-as-tags) add up to all of
# the program's test cases: a suite registered per file runs every case.
function(count_cases out)
  execute_process(COMMAND ${PROGRAM} --list-test-names-only ${ARGN} OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
  string(REGEX REPLACE "[^\n]" "" newlines "${listing}")  # one per name (names may hold ';')
  string(LENGTH "${newlines}" n)
  set(${out} ${n} PARENT_SCOPE)
endfunction()

count_cases(all)
set(sum 0)
string(REGEX REPLACE "^," "" files "${FILES}")
string(REPLACE "," ";" files "${files}")
foreach(name IN LISTS files)
  count_cases(n --filenames-as-tags "[#${name}]~[.]")  # as the per-file tests select them
  math(EXPR sum "${sum} + ${n}")
endforeach()
if(NOT all EQUAL sum)
  message(FATAL_ERROR "stork: ${all} test cases, but the files' tags select ${sum}: a test case outside the "
                      "*_test.cpp files would not run")
endif()
message(STATUS "stork: ${all} test cases, all in the files' tags")
