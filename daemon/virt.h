/* virt.h */
#pragma once
