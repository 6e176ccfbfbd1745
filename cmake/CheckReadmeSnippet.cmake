# cmake -DREADME=... -DSNIPPET=... [-DREGION=name] -P CheckReadmeSnippet.cmake
# Fails unless the page (README.md or a docs page) contains the snippet verbatim: its code cannot drift from
# the examples.
# Without REGION the snippet is the whole file; with REGION=name it is the lines between the marker lines
# "// [name-begin]" and "// [name-end]" of the file (markers excluded).
file(READ ${README} readme)
file(READ ${SNIPPET} snippet)
if(DEFINED REGION)
  set(begin "// [${REGION}-begin]\n")
  set(end "// [${REGION}-end]\n")
  string(FIND "${snippet}" "${begin}" b)
  string(FIND "${snippet}" "${end}" e)
  if(b EQUAL -1 OR e EQUAL -1 OR e LESS b)
    message(FATAL_ERROR "${SNIPPET} has no region between '// [${REGION}-begin]' and '// [${REGION}-end]' lines")
  endif()
  string(LENGTH "${begin}" blen)
  math(EXPR b "${b} + ${blen}")
  math(EXPR len "${e} - ${b}")
  string(SUBSTRING "${snippet}" ${b} ${len} snippet)
endif()
string(FIND "${readme}" "${snippet}" at)
if(at EQUAL -1)
  if(DEFINED REGION)
    set(what "the ${REGION} region of ${SNIPPET}")
  else()
    set(what "${SNIPPET}")
  endif()
  message(FATAL_ERROR "${README} does not contain ${what} verbatim: copy it into that page")
endif()
