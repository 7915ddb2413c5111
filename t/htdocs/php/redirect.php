<?php
// A CGI "local redirect": a Location that is a local path, and no status.
// PHP turns any Location into "Status: 302" unless the script sets the
// status itself afterwards, so the 200 is set explicitly: php-fpm then
// sends Location alone, as a CGI script would.
header('Location: /somewhere.html');
http_response_code(200);
