"""One date-time format for the whole site: a datetime printed without a filter reads 2026-12-02 09:40
(in Europe/Istanbul, the course's zone: settings.TIME_ZONE with USE_TZ). Django's own English formats
("Dec. 2, 2026, 9:40 a.m.") are replaced through settings.FORMAT_MODULE_PATH."""

DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
