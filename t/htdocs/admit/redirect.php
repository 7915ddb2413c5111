<?php
// t/reuse/11: a CGI local redirect to another script of the same pool
// (status 200 with a local Location: httpd serves the target itself).
header('Location: /admit/new.php', true, 200);
