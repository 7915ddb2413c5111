<?php
// Dumps the request's CGI environment as "NAME=VALUE\n" lines, sorted by
// name; "\" and newlines in values are escaped as "\\" and "\n".
header('Content-Type: text/plain');
$vars = $_SERVER;
$vars['VF_POOL'] = (string) getenv('VF_POOL');
ksort($vars);
foreach ($vars as $k => $v) {
    if (!is_scalar($v)) {
        continue;
    }
    echo $k, '=', strtr((string) $v, ["\\" => "\\\\", "\n" => "\\n"]), "\n";
}
