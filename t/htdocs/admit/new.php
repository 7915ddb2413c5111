<?php
// t/reuse/11: the target of redirect.php.
header('Content-Type: text/plain');
echo "NEW-RAN\n";
