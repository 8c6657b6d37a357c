"""Mining and scoring parallel sentences: search, margins, thresholds, filters, reports (``mineshaft mine``,
``mineshaft score``). Nothing is imported here, so each part loads only what it needs."""
